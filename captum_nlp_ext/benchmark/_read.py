"""Read a benchmark run folder (schema 1: ``run.json`` + ``results.jsonl``)."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

from captum_nlp_ext.benchmark.store import read_results, RESULTS_FILE, RUN_FILE, SCHEMA


@dataclass
class Run:
    """A run folder's settings and results.

    Attributes:
        folder (Path): The run folder.
        settings (dict): ``run.json``.
        records (list of dict): One per (example, method), in file order; a
                    later line for the same pair replaces an earlier one.
        methods (list of str): The run's methods, then any method found only in
                    the results.
        metrics (list of str): The run's metrics, then any metric found only in
                    the results.
        torn_last_line (bool): The last line of ``results.jsonl`` was cut off
                    (a killed run) and was skipped.
        failed (list of dict): Records of (example, method) pairs that could
                    not be explained (a ``"failed"`` message, no scores); they
                    are not in ``records``.
    """

    folder: Path
    settings: Dict[str, Any]
    records: List[Dict[str, Any]]
    methods: List[str] = field(default_factory=list)
    metrics: List[str] = field(default_factory=list)
    torn_last_line: bool = False
    failed: List[Dict[str, Any]] = field(default_factory=list)


def _append_new(names: List[str], extra: Any) -> None:
    for name in extra:
        if name not in names:
            names.append(name)


# Settings that decide what an example's scores and metrics mean: folders
# reported together must agree on them.
SHARED_SETTINGS = (
    "model",
    "dataset",
    "split",
    "n",
    "seed",
    "budget",
    "max_length",
    "window",
)

RunDirs = Union[str, Path, Sequence[Union[str, Path]]]


def read_runs(run_dirs: RunDirs) -> Run:
    """Read one run folder, or several that explain the same examples with
    different methods (e.g. methods split across processes or machines) as one
    run: methods, metrics and their settings are joined, and a later folder's
    record of an (example, method) pair replaces an earlier one's.

    Raises:
        ValueError: No folder given, folders that differ in one of
                    :data:`SHARED_SETTINGS`, or a method run with different
                    settings in two folders (its records would mix).
    """
    if isinstance(run_dirs, (str, Path)):
        return read_run(run_dirs)
    runs = [read_run(folder) for folder in run_dirs]
    if not runs:
        raise ValueError("`run_dirs` must name at least one run folder.")
    first = runs[0]
    for other in runs[1:]:
        differing = [
            key
            for key in SHARED_SETTINGS
            if first.settings.get(key) != other.settings.get(key)
        ]
        if differing:
            raise ValueError(
                f"Run folders {first.folder} and {other.folder} cannot be reported "
                f"together: they differ in {differing}."
            )
    seen: Dict[str, Any] = {}
    for run in runs:
        for name, entry in (run.settings.get("method_settings") or {}).items():
            mine = (entry or {}).get("settings")
            if name in seen and seen[name][1] != mine:
                raise ValueError(
                    f"Method {name!r} ran with different settings in {seen[name][0]} "
                    f"and {run.folder}: report them apart (their records would "
                    "mix), or rerun one under the other's settings."
                )
            seen.setdefault(name, (run.folder, mine))
    settings = dict(first.settings)
    for key in ("method_settings", "metric_settings"):
        settings[key] = {
            name: value
            for run in runs
            for name, value in (run.settings.get(key) or {}).items()
        }
    methods: List[str] = []
    metrics: List[str] = []
    by_key: Dict[Any, Dict[str, Any]] = {}
    for run in runs:
        _append_new(methods, run.methods)
        _append_new(metrics, run.metrics)
        by_key.update(
            {(r["example"], r["method"]): r for r in run.records + run.failed}
        )
    settings["methods"], settings["metrics"] = methods, metrics
    records, failed = _split_failed(list(by_key.values()))
    return Run(
        first.folder,
        settings,
        records,
        methods,
        metrics,
        any(run.torn_last_line for run in runs),
        failed,
    )


def _split_failed(
    records: List[Dict[str, Any]],
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    done = [r for r in records if "failed" not in r]
    return done, [r for r in records if "failed" in r]


def read_run(run_dir: Union[str, Path]) -> Run:
    """Read ``run_dir``; a missing ``results.jsonl`` is a run with no results.

    Raises:
        FileNotFoundError: ``run_dir/run.json`` does not exist.
        ValueError: Unknown schema, or a line other than the last is not JSON.
    """
    folder = Path(run_dir)
    settings_path = folder / RUN_FILE
    if not settings_path.is_file():
        raise FileNotFoundError(
            f"`run_dir` must be a benchmark run folder holding run.json; "
            f"{settings_path} does not exist."
        )
    settings = json.loads(settings_path.read_text(encoding="utf-8"))
    if settings.get("schema") != SCHEMA:
        raise ValueError(
            f"{settings_path}: schema {settings.get('schema')!r} is not supported "
            f"(expected {SCHEMA})."
        )
    results_path = folder / RESULTS_FILE
    complete, good_bytes = read_results(results_path)
    torn = results_path.is_file() and good_bytes < results_path.stat().st_size
    by_key: Dict[Any, Dict[str, Any]] = {
        (record["example"], record["method"]): record for record in complete
    }
    records, failed = _split_failed(list(by_key.values()))
    methods = list(settings.get("methods") or [])
    _append_new(methods, (r["method"] for r in records))
    metrics = list(settings.get("metrics") or [])
    for record in records:
        _append_new(metrics, (record.get("metrics") or {}).keys())
    return Run(folder, settings, records, methods, metrics, torn, failed)
