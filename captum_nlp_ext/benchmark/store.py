"""The run folder (schema 1): ``run.json``, ``results.jsonl`` and ``cache/``.

``run.json`` holds the run's settings, written once; ``results.jsonl`` one JSON
object per (example, method), appended after each (batch, method) in one
write, flushed and synced. A run killed at any point leaves at most a torn last
line: :class:`RunStore` drops it on opening, and the runner recomputes exactly
the (example, method) pairs that are missing. An (example, method) pair that
could not be explained is a record with a ``"failed"`` message (and no scores):
it counts as done, so a resumed run does not retry it.

A run under ``torchrun`` writes one more file per rank but 0,
``results.rank-R.jsonl`` (:class:`RankWriter`), which rank 0 moves into
``results.jsonl`` when every rank is done (or when a killed run is resumed):
no two processes ever append to one file.

While a run writes the folder it holds ``run.lock`` (an exclusive lock through
``filelock``: ``flock`` on POSIX, ``msvcrt`` on Windows), with the writer's PID
in ``run.pid``: a second run on the same folder is refused with that PID. The
operating system releases the lock when its process dies, so a lock left by a
killed run is taken over by the next run. ``cache/`` holds
what the run built to serve it (LAFA's reference index), named by what built
it; ``overwrite`` deletes it with the results.
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from captum_nlp_ext._utils.files import write_text_atomic
from captum_nlp_ext._utils.imports import require
from captum_nlp_ext._utils.settings import describe_differences, settings_differences
from captum_nlp_ext._utils.types import PathLike

SCHEMA = 1
RUN_FILE = "run.json"
RESULTS_FILE = "results.jsonl"
LOCK_FILE = "run.lock"
PID_FILE = "run.pid"
RANK_FILES = "results.rank-*.jsonl"
CACHE_DIR = "cache"
# Keys of run.json that may differ when a run is resumed (where and when it
# ran, and what is derived from the recorded model).
VOLATILE_KEYS = ("started", "machine", "versions", "model_path", "classes")


class RunLockedError(ValueError):
    """Another process is writing the run folder."""


def load_run(run_dir: PathLike) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """Read a run folder: its settings and its results (a torn last line, left
    by a killed run, is skipped).

    Returns:
        (settings from ``run.json``, list of result records in file order)
    """
    run_dir = Path(run_dir)
    settings = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    records, _ = read_results(run_dir / RESULTS_FILE)
    return settings, records


def read_results(path: Path) -> Tuple[List[Dict[str, Any]], int]:
    """The complete records and the byte length of the complete lines."""
    if not path.is_file():
        return [], 0
    data = path.read_bytes()
    records, good = [], 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if good + len(line) == len(data):
                break  # a torn line that happens to end with a newline byte
            raise ValueError(
                f"{path}: line {len(records) + 1} is not JSON ({error}); only the "
                "last line of a killed run can be torn."
            ) from error
        good += len(line)
    return records, good


class RunStore:
    """Open (create or resume) a run folder.

    Args:
        run_dir (str or PathLike): The folder; created if missing.
        settings (Mapping): The run's ``run.json`` content (JSON-serialisable).
        overwrite (bool): Delete an existing run's files and start afresh.
                    Default: False

    Raises:
        ValueError: The folder holds a run with other settings (the message
                    names the keys that differ) and ``overwrite`` is False.
    """

    def __init__(
        self, run_dir: PathLike, settings: Mapping[str, Any], overwrite: bool = False
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_path = self.run_dir / RUN_FILE
        self.results_path = self.run_dir / RESULTS_FILE
        self.cache_dir = self.run_dir / CACHE_DIR
        self._lock = _RunLock(self.run_dir / LOCK_FILE)
        try:
            self._open(settings, overwrite)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release the folder's lock (idempotent)."""
        self._lock.release()

    def _open(self, settings: Mapping[str, Any], overwrite: bool) -> None:
        # Round-trip through JSON so that tuples compare equal to stored lists.
        settings = json.loads(json.dumps(settings))
        if overwrite:
            for path in (self.run_path, self.results_path):
                path.unlink(missing_ok=True)
            for path in self.run_dir.glob(RANK_FILES):
                path.unlink()
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        if self.run_path.is_file():
            stored = json.loads(self.run_path.read_text(encoding="utf-8"))
            differing = settings_differences(stored, settings, VOLATILE_KEYS)
            if differing:
                details = describe_differences(stored, settings, differing)
                raise ValueError(
                    f"{self.run_dir} holds a run with other settings ({details}). "
                    "Resume it with the same settings, choose another folder, or "
                    "pass overwrite=True (--overwrite) to start afresh."
                )
            self.settings = stored
        else:
            self.results_path.write_bytes(b"")
            write_text_atomic(self.run_path, json.dumps(settings, indent=1) + "\n")
            self.settings = settings
        records, good = read_results(self.results_path)
        if self.results_path.is_file() and good < self.results_path.stat().st_size:
            with open(self.results_path, "r+b") as handle:
                handle.truncate(good)
        self.done: Set[Tuple[int, str]] = set()
        self._failed = sum(1 for r in records if "failed" in r)
        for record in records:
            key = (int(record["example"]), str(record["method"]))
            if key in self.done:
                raise ValueError(f"{self.results_path}: {key} appears twice.")
            self.done.add(key)

    @property
    def failed(self) -> int:
        """How many (example, method) pairs of the folder failed."""
        return self._failed

    def cache_path(self, name: str) -> Path:
        """Where the run keeps a file it built (``cache/NAME``)."""
        self.cache_dir.mkdir(exist_ok=True)
        return self.cache_dir / name

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append records in one write, flushed and synced to disk."""
        records = list(records)
        _append_lines(self.results_path, records)
        self.done.update((int(r["example"]), str(r["method"])) for r in records)
        self._failed += sum(1 for r in records if "failed" in r)

    def merge_rank_files(self) -> int:
        """Move the records of the rank files (``results.rank-R.jsonl``, each
        written by one rank of a ``torchrun`` job) into ``results.jsonl``,
        those not there yet, and delete the files; returns how many moved."""
        moved = 0
        for path in sorted(self.run_dir.glob(RANK_FILES)):
            records, _ = read_results(path)
            fresh = [
                r
                for r in records
                if (int(r["example"]), str(r["method"])) not in self.done
            ]
            if fresh:
                self.append(fresh)
                moved += len(fresh)
            path.unlink()
        return moved


class RankWriter:
    """Appends one rank's records to its own file, ``results.rank-R.jsonl``
    (each append one write, flushed and synced, as :meth:`RunStore.append`);
    rank 0 merges the files into ``results.jsonl`` when all ranks are done, or
    when the run is resumed after a kill."""

    def __init__(self, run_dir: PathLike, rank: int) -> None:
        self.path = Path(run_dir) / RANK_FILES.replace("*", str(rank))
        records, good = read_results(self.path)
        if self.path.is_file() and good < self.path.stat().st_size:
            with open(self.path, "r+b") as handle:
                handle.truncate(good)

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        _append_lines(self.path, records)


def _append_lines(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    text = "".join(json.dumps(r, allow_nan=False) + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


class _RunLock:
    """An exclusive, non-blocking lock on ``path``, the holder's PID beside it
    in :data:`PID_FILE`."""

    def __init__(self, path: Path) -> None:
        filelock = require("filelock", "filelock>=3.12", "The run folder's lock")
        self.lock: Optional[Any] = filelock.FileLock(str(path), timeout=0)
        pid_file = path.with_name(PID_FILE)
        try:
            self.lock.acquire()
        except filelock.Timeout:
            self.lock = None
            try:
                holder = pid_file.read_text(encoding="utf-8").strip()
            except OSError:
                holder = ""
            raise RunLockedError(
                f"{path.parent} is being written by another run (process "
                f"{holder or 'unknown'}); wait for it to finish, stop it, or choose "
                "another folder (--out)."
            ) from None
        pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
