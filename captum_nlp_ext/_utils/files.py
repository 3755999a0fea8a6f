"""Files written whole or not at all: another process (a rank of the same run,
a reader of the cache) never sees half a file, and a killed writer leaves at
most a ``*.tmp`` beside it."""

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from captum_nlp_ext._utils.types import PathLike


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; when the block ends
    without an error, the file is synced to disk and renamed over ``path``,
    otherwise removed. The name carries the process id, so that two processes
    writing the same file never mix their bytes."""
    path = Path(path)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
