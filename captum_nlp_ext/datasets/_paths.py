"""Locating the shared data and model folders.

Resolution order (the same for data and models): an explicit argument, then the
environment variable, then the first existing of ``<cwd>/../shared/<kind>``,
``<repository root of cwd>/../shared/<kind>`` and
``<repository root of this package>/../shared/<kind>``.
"""

import os
from pathlib import Path
from typing import Optional

from captum_nlp_ext._utils.types import PathLike

DATA_ENV_VAR = "CAPTUM_NLP_DATA"
MODELS_ENV_VAR = "CAPTUM_NLP_MODELS"


def _repo_root(start: Path) -> Optional[Path]:
    # A git worktree has a ``.git`` *file*, so test for existence, not is_dir().
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _default_candidates(kind: str) -> list[Path]:
    cwd = Path.cwd()
    candidates = [cwd.parent / "shared" / kind]
    cwd_root = _repo_root(cwd)
    if cwd_root is not None:
        candidates.append(cwd_root.parent / "shared" / kind)
    package_root = Path(__file__).resolve().parents[2]
    candidates.append(package_root.parent / "shared" / kind)
    unique: list[Path] = []
    for candidate in candidates:
        if candidate.resolve() not in [u.resolve() for u in unique]:
            unique.append(candidate)
    return unique


def _resolve(explicit: Optional[PathLike], env_var: str, kind: str) -> Path:
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(env_var, "")
    if from_env:
        return Path(from_env)
    candidates = _default_candidates(kind)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    # Nothing exists: return the first candidate so that the eventual
    # FileNotFoundError names a concrete path the user can act on.
    return candidates[0]


def resolve_data_dir(data_dir: Optional[PathLike] = None) -> Path:
    """Return the folder holding the shared data sets.

    Args:
        data_dir (str or os.PathLike, optional): Explicit folder; wins over
            everything else. Default: None (use ``CAPTUM_NLP_DATA``, else the
            first existing ``../shared/data`` next to the current or the
            package's repository).

    Returns:
        Path: The folder. It is not guaranteed to exist; loaders check the
        files they need and raise ``FileNotFoundError``.
    """
    return _resolve(data_dir, DATA_ENV_VAR, "data")


def resolve_models_dir(models_dir: Optional[PathLike] = None) -> Path:
    """Return the folder holding the shared models.

    Args:
        models_dir (str or os.PathLike, optional): Explicit folder. Default: None
            (use ``CAPTUM_NLP_MODELS``, else the first existing
            ``../shared/models``).

    Returns:
        Path: The folder (not guaranteed to exist).
    """
    return _resolve(models_dir, MODELS_ENV_VAR, "models")


def require_file(data_dir: Optional[PathLike], relative: str) -> Path:
    """Return ``<resolved data_dir>/<relative>``, failing clearly if it is absent.

    Args:
        data_dir (str or os.PathLike, optional): As for :func:`resolve_data_dir`.
        relative (str): Path of the file inside the data folder.

    Returns:
        Path: The existing file.

    Raises:
        FileNotFoundError: The file does not exist; the message names the file
            and the environment variable.
    """
    path = resolve_data_dir(data_dir) / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"Data file not found: {path}. Pass data_dir= or set the environment "
            f"variable {DATA_ENV_VAR} to the folder that contains '{relative}'."
        )
    return path


CACHE_ENV_VAR = "CAPTUM_NLP_CACHE"


def user_cache_dir() -> Path:
    """The folder where ``captum-nlp explain`` keeps what it builds once per
    model and pool (LAFA's reference index, DiffMask's probe):
    ``CAPTUM_NLP_CACHE``, else ``$XDG_CACHE_HOME/captum-nlp-ext``, else
    ``~/.cache/captum-nlp-ext``. Files are named by the model's fingerprint,
    the texts and the settings, so another model never reuses one."""
    explicit = os.environ.get(CACHE_ENV_VAR, "")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME", "") or str(Path.home() / ".cache")
    return Path(base) / "captum-nlp-ext"


def user_cache_file(name: str) -> Path:
    """``name`` in :func:`user_cache_dir`, the folder created."""
    folder = user_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
