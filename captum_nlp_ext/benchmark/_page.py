"""The report's HTML: one self-contained page (inline style and images, no
script, a Content-Security-Policy that forbids loading anything), rendered
from ``templates/report.html`` with autoescaping: this module gathers the
run's values as text, the template escapes every one."""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from captum_nlp_ext._utils.html import render
from captum_nlp_ext._utils.text import WORDS_CSS
from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.benchmark import _format as fmt
from captum_nlp_ext.benchmark._read import Run
from captum_nlp_ext.benchmark._summary import MethodSummary, Summary

# Nothing may load from anywhere: images are data: URLs, styles inline.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_PAGE_STYLE = WORDS_CSS + (
    "body{max-width:1400px;color:#222}"
    "h2{margin-top:1.6em;border-bottom:2px solid #ccc}"
    ".ci{color:#666;font-size:85%;white-space:nowrap}"
    ".best{font-weight:bold}"
    ".notice{background:#fff6d5;border-left:4px solid #e0b000;padding:6px 10px}"
    "td.num{text-align:right;white-space:nowrap}"
    "img{max-width:100%;height:auto}"
    ".example{margin:1.2em 0}"
    ".example h3{margin-bottom:.2em}"
    ".meta{color:#555;margin:.2em 0 .5em}"
    "code{background:#f4f4f4;padding:0 3px}"
)
_SETTINGS = (
    "model",
    "dataset",
    "split",
    "n",
    "budget",
    "seed",
    "batch_size",
    "max_length",
    "window",
    "started",
    "machine",
)
_NOT_SETTINGS = {"schema", "methods", "metrics", "method_settings", "metric_settings"}


def _text(value: Any) -> str:
    """A setting or record value as text (escaped by the template)."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True)
    return fmt.MISSING if value is None else str(value)


def _settings(run: Run) -> List[List[str]]:
    settings = run.settings
    keys = [k for k in _SETTINGS if k in settings]
    keys += [k for k in settings if k not in keys and k not in _NOT_SETTINGS]
    rows = []
    for key in keys:
        value = settings[key]
        if key == "versions" and isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        rows.append([_text(key), _text(value)])
    rows.append(["folder", _text(run.folder)])
    return rows


def _headline(run: Run) -> List[Tuple[str, str]]:
    return [
        (key, _text(run.settings[key]))
        for key in ("n", "budget", "seed", "started", "machine")
        if run.settings.get(key) is not None
    ]


def _notices(run: Run, summary: Summary, plots_missing: bool) -> List[str]:
    notes = []
    if summary.partial:
        counts = ", ".join(f"{r.method}: {r.examples}" for r in summary.rows)
        notes.append(
            f"Partial run: a complete method has {summary.expected} examples; "
            f"examples per method: {counts}. Means of methods with different "
            "examples are not paired."
        )
    if run.torn_last_line:
        notes.append(
            "The last line of results.jsonl was cut off (the run was "
            "interrupted) and is skipped."
        )
    if plots_missing:
        notes.append("Figures need matplotlib: pip install matplotlib")
    return notes + _noisy_fits(run)


def _failed(run: Run) -> List[List[str]]:
    return [
        [_text(r["example"]), _text(r["method"]), _text(r["failed"])]
        for r in sorted(run.failed, key=lambda r: (r["example"], r["method"]))
    ]


def _noisy_fits(run: Run) -> List[str]:
    """A note per method whose convergence estimates say that some of its fits
    are too noisy to rank words."""
    notes = []
    for method in run.methods:
        estimates = [
            r["convergence"]
            for r in run.records
            if r["method"] == method and r.get("convergence") is not None
        ]
        noisy = sum(value >= LayerNLGP.NOISY_FIT for value in estimates)
        if noisy:
            mean = sum(estimates) / len(estimates)
            notes.append(
                f"{method}: {noisy} of {len(estimates)} fits are too noisy to rank "
                f"their words (convergence estimate >= {LayerNLGP.NOISY_FIT}; mean "
                f"{mean:.2f}): raise --budget, or --set "
                f"{method}.samples_per_unit=R for R samples a word."
            )
    return notes


def _metric_cell(
    row: MethodSummary, metric: str, summary: Summary
) -> Optional[Dict[str, Any]]:
    result = row.metrics[metric]
    if result.n == 0:
        return None
    return {
        "mean": fmt.number(result.mean),
        "best": row.method in summary.best[metric],
        "interval": fmt.interval(result),
        "n": result.n,
    }


def _metric_head(run: Run, summary: Summary) -> List[Dict[str, str]]:
    descriptions = run.settings.get("metric_settings") or {}
    return [
        {
            "name": metric,
            "description": (descriptions.get(metric) or {}).get("description", ""),
            "arrow": fmt.arrow(summary.higher_is_better[metric]),
        }
        for metric in summary.metrics
    ]


def _metric_rows(run: Run, summary: Summary) -> List[Dict[str, Any]]:
    families = run.settings.get("method_settings") or {}
    rows = []
    for row in summary.rows:
        entry = families.get(row.method) or {}
        family = entry.get("family", "")
        if entry.get("signed") is False:
            family += " · unsigned"
        seconds = row.costs["seconds"]
        rows.append(
            {
                "method": _text(row.method),
                "family": _text(family),
                "examples": str(row.examples),
                "cells": [_metric_cell(row, m, summary) for m in summary.metrics],
                "seconds": fmt.seconds(seconds),
                "seconds_interval": fmt.interval(seconds, 3),
                "forward": fmt.passes(row.costs["forward_rows"]),
                "backward": fmt.passes(row.costs["backward_rows"]),
                "memory": fmt.memory(row.peak_memory_bytes),
                "memory_source": row.memory_source,
            }
        )
    return rows


def _definitions(run: Run, summary: Summary) -> Dict[str, List[List[str]]]:
    methods = run.settings.get("method_settings") or {}
    method_rows = [
        [
            _text(m),
            _text((methods.get(m) or {}).get("family")),
            _text((methods.get(m) or {}).get("kind")),
            _text((methods.get(m) or {}).get("description")),
            _text((methods.get(m) or {}).get("settings", {})),
        ]
        for m in run.methods
    ]
    metrics = run.settings.get("metric_settings") or {}
    metric_rows = [
        [
            _text(m),
            _text((metrics.get(m) or {}).get("group")),
            fmt.arrow(summary.higher_is_better.get(m)),
            _text((metrics.get(m) or {}).get("description")),
        ]
        for m in summary.metrics
    ]
    return {"method_rows": method_rows, "metric_definitions": metric_rows}


def _class(classes: Optional[List[str]], index: Any) -> str:
    """A class by name where the run recorded the model's ``id2label``."""
    if isinstance(index, int) and classes and 0 <= index < len(classes):
        return _text(f"{classes[index]}")
    return _text(index)


def _example(
    example: Any,
    records: Dict[str, Dict[str, Any]],
    methods: List[str],
    classes: Optional[List[str]] = None,
) -> Dict[str, Any]:
    first = next(iter(records.values()))
    rationale = next(
        (r["rationale"] for r in records.values() if r.get("rationale")), None
    )
    probability = first.get("probability")
    meta = (
        f"label {_class(classes, first.get('label'))} · predicted "
        f"{_class(classes, first.get('prediction'))}"
        + (f" (p={probability:.3f})" if probability is not None else "")
        + f" · explained class {_class(classes, first.get('target'))}"
    )
    rows = []
    if rationale is not None:
        words = first["words"]
        rows.append(_words_row("", words, [0.0] * len(words), rationale, 1.0, True))
    for method in methods:
        record = records.get(method)
        if record is None:
            rows.append(_words_row(_text(method), None, None, None, 1.0, False))
            continue
        words, scores = record["words"], record["scores"]
        scale = max((abs(s) for s in scores), default=0.0)
        marked = rationale if rationale and len(rationale) == len(words) else None
        rows.append(_words_row(_text(method), words, scores, marked, scale, False))
    return {"name": _text(example), "meta": meta, "rows": rows}


def _words_row(
    method: str,
    words: Optional[List[str]],
    scores: Optional[List[float]],
    rationale: Optional[List[int]],
    scale: float,
    human: bool,
) -> Dict[str, Any]:
    return {
        "method": method,
        "words": None if words is None else [str(w) for w in words],
        "scores": None if scores is None else [float(s) for s in scores],
        "rationale": rationale,
        "divisor": scale or 1.0,
        "human": human,
    }


def render_page(
    run: Run,
    summary: Summary,
    curves: Optional[str],
    bars: Optional[str],
    max_examples: int,
    plots_missing: bool,
) -> str:
    """The whole HTML document (``templates/report.html``)."""
    settings = run.settings
    # The model's folder name, not a path on the machine that ran it.
    model = Path(str(settings.get("model", "?"))).name
    title = (
        f"Benchmark: {model} on "
        f"{settings.get('dataset', '?')} / {settings.get('split', '?')}"
    )
    by_example: Dict[Any, Dict[str, Dict[str, Any]]] = {}
    for record in run.records:
        by_example.setdefault(record["example"], {})[record["method"]] = record
    order = sorted(by_example)
    classes = settings.get("classes")
    examples = [
        _example(e, by_example[e], run.methods, classes) for e in order[:max_examples]
    ]
    return render(
        "report.html",
        csp=_CSP,
        style=_PAGE_STYLE,
        title=title,
        headline=_headline(run),
        notices=_notices(run, summary, plots_missing),
        failed=_failed(run),
        missing=fmt.MISSING,
        metric_head=_metric_head(run, summary),
        metric_rows=_metric_rows(run, summary),
        curves=curves,
        bars=bars,
        examples=examples,
        total_examples=len(order),
        max_examples=max_examples,
        boxed=any(r.get("rationale") for r in run.records),
        settings=_settings(run),
        **_definitions(run, summary),
    )
