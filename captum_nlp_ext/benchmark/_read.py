"""Read a benchmark run folder (schema 1: ``run.json`` + ``results.jsonl``)."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Union

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
    """

    folder: Path
    settings: Dict[str, Any]
    records: List[Dict[str, Any]]
    methods: List[str] = field(default_factory=list)
    metrics: List[str] = field(default_factory=list)
    torn_last_line: bool = False


def _append_new(names: List[str], extra: Any) -> None:
    for name in extra:
        if name not in names:
            names.append(name)


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
    records = list(by_key.values())
    methods = list(settings.get("methods") or [])
    _append_new(methods, (r["method"] for r in records))
    metrics = list(settings.get("metrics") or [])
    for record in records:
        _append_new(metrics, (record.get("metrics") or {}).keys())
    return Run(folder, settings, records, methods, metrics, torn)
