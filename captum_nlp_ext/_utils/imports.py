"""Imports of third-party modules that only some paths need, done where they
are used (so that ``import captum_nlp_ext`` stays light) and failing with the
requirement to install, not a bare ModuleNotFoundError."""

import importlib
from types import ModuleType


def require(module: str, requirement: str, purpose: str) -> ModuleType:
    """``importlib.import_module(module)``, or an ImportError saying that
    ``purpose`` needs ``requirement`` (a pip requirement string)."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs {module}, a dependency of captum-nlp-ext that is not "
            f"installed here: pip install '{requirement}' (or reinstall "
            "captum-nlp-ext)."
        ) from error
