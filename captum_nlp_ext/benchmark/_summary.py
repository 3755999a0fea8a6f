"""Per-method summaries of a run: each metric's mean with a bootstrap interval,
the best method per metric, and the cost of each method."""

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set

import torch

from captum_nlp_ext.benchmark._read import Run
from captum_nlp_ext.metrics import MetricResult, summarize

COSTS = ("seconds", "forward_rows", "backward_rows")


@dataclass
class MethodSummary:
    """One row of the metric table.

    Attributes:
        method (str): The method's name.
        examples (int): Examples the method has results for.
        metrics (dict): Metric name -> :class:`MetricResult` over the examples
                    where the value is defined (nulls skipped).
        costs (dict): ``seconds``, ``forward_rows``, ``backward_rows`` per
                    example -> :class:`MetricResult`.
        peak_memory_bytes (int or None): The largest peak memory recorded.
        memory_source (str or None): How memory was measured (rss, cuda...).
    """

    method: str
    examples: int
    metrics: Dict[str, MetricResult]
    costs: Dict[str, MetricResult]
    peak_memory_bytes: Optional[int]
    memory_source: Optional[str]


@dataclass
class Summary:
    """The metric table of a run.

    Attributes:
        rows (list of MethodSummary): One per method, in the run's order.
        metrics (list of str): The table's metric columns.
        higher_is_better (dict): Metric -> True, False, or None when the run
                    does not say.
        best (dict): Metric -> names of the methods with the best mean.
        expected (int): Examples a complete method has: the largest count
                    of any method, or the run's ``n`` if larger.
    """

    rows: List[MethodSummary]
    metrics: List[str]
    higher_is_better: Dict[str, Optional[bool]]
    best: Dict[str, Set[str]]
    expected: int

    @property
    def partial(self) -> bool:
        """Whether some method has fewer examples than :attr:`expected`."""
        return any(row.examples < self.expected for row in self.rows)


def _values(records: Sequence[Dict[str, Any]], section: str, key: str) -> List[float]:
    out = []
    for record in records:
        value = (record.get(section) or {}).get(key)
        out.append(float("nan") if value is None else float(value))
    return out


def _summarize(name: str, values: List[float]) -> MetricResult:
    return summarize(name, torch.tensor(values, dtype=torch.float64))


def _best(rows: List[MethodSummary], metric: str, higher: Optional[bool]) -> Set[str]:
    if higher is None:
        return set()
    means = {
        row.method: row.metrics[metric].mean
        for row in rows
        if row.metrics[metric].n > 0 and math.isfinite(row.metrics[metric].mean)
    }
    if not means:
        return set()
    target = max(means.values()) if higher else min(means.values())
    return {method for method, mean in means.items() if mean == target}


def summarize_run(run: Run) -> Summary:
    """Summarize every method of ``run`` (methods without results get n = 0)."""
    by_method: Dict[str, List[Dict[str, Any]]] = {m: [] for m in run.methods}
    for record in run.records:
        by_method[record["method"]].append(record)
    rows = []
    for method, records in by_method.items():
        memory = [
            int(r["cost"]["peak_memory_bytes"])
            for r in records
            if (r.get("cost") or {}).get("peak_memory_bytes") is not None
        ]
        sources = {(r.get("cost") or {}).get("memory_source") for r in records}
        sources.discard(None)
        rows.append(
            MethodSummary(
                method=method,
                examples=len(records),
                metrics={
                    m: _summarize(m, _values(records, "metrics", m))
                    for m in run.metrics
                },
                costs={c: _summarize(c, _values(records, "cost", c)) for c in COSTS},
                peak_memory_bytes=max(memory) if memory else None,
                memory_source=", ".join(sorted(str(s) for s in sources if s)) or None,
            )
        )
    settings = run.settings.get("metric_settings") or {}
    higher = {m: (settings.get(m) or {}).get("higher_is_better") for m in run.metrics}
    best = {m: _best(rows, m, higher[m]) for m in run.metrics}
    expected = max(
        [row.examples for row in rows] + [int(run.settings.get("n") or 0)], default=0
    )
    return Summary(rows, list(run.metrics), higher, best, expected)
