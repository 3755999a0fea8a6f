"""Warnings that point at the user's line: the first frame outside this
package and Captum (whose ``log_usage`` wraps every ``attribute``), however
many wrappers (deprecation shims, decorators) stand between."""

import sys
import warnings
from typing import Type

_OURS = ("captum_nlp_ext.", "captum.")


def warn_caller(message: str, category: Type[Warning] = UserWarning) -> None:
    """``warnings.warn`` with the stack level of the user's call."""
    frame = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_OURS):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)
