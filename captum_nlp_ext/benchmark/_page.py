"""The report's HTML: one self-contained page (inline style and images, no
script, a Content-Security-Policy that forbids loading anything), every text
from the run escaped."""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from captum_nlp_ext._utils.text import escape_html as escape, WORDS_CSS
from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.attr.visualization import colour_legend_html, words_html
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
    if isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True)
    return escape(fmt.MISSING if value is None else str(value))


def _table(head: List[str], rows: List[List[str]], classes: str = "") -> str:
    # Cells arrive as HTML already escaped by their builders.
    css = f' class="{classes}"' if classes else ""
    out = [f"<table{css}><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    return "".join(out) + "</table>"


def _settings_section(run: Run) -> str:
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
    return "<h2>Settings</h2>" + _table(["setting", "value"], rows)


def _headline(run: Run) -> str:
    parts = [
        f"{key} {_text(run.settings[key])}"
        for key in ("n", "budget", "seed", "started", "machine")
        if run.settings.get(key) is not None
    ]
    return f"<p class='meta'>{' · '.join(parts)} (all settings below)</p>"


def _notices(run: Run, summary: Summary, plots_missing: bool) -> str:
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
    notes += _noisy_fits(run)
    html = "".join(f'<p class="notice">{escape(n)}</p>' for n in notes)
    if run.failed:
        rows = [
            [_text(r["example"]), _text(r["method"]), _text(r["failed"])]
            for r in sorted(run.failed, key=lambda r: (r["example"], r["method"]))
        ]
        html += (
            f'<p class="notice">{len(run.failed)} explanation(s) failed and are '
            "left out of every table and figure:</p>"
            + _table(["example", "method", "why"], rows)
        )
    return html


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


def _metric_cell(row: MethodSummary, metric: str, summary: Summary) -> str:
    result = row.metrics[metric]
    if result.n == 0:
        return fmt.MISSING
    best = row.method in summary.best[metric]
    mean = escape(fmt.number(result.mean)) + (" ★" if best else "")
    css = ' class="best"' if best else ""
    return (
        f"<span{css}>{mean}</span><br><span class='ci'>"
        f"{escape(fmt.interval(result))} n={result.n}</span>"
    )


def _metric_table(run: Run, summary: Summary) -> str:
    descriptions = run.settings.get("metric_settings") or {}
    families = run.settings.get("method_settings") or {}
    head = ["method", "family", "examples"]
    for metric in summary.metrics:
        description = (descriptions.get(metric) or {}).get("description", "")
        arrow = fmt.arrow(summary.higher_is_better[metric])
        head.append(
            f'<span title="{escape(description)}">{escape(metric)}</span> {arrow}'
        )
    head += [
        "seconds / example ↓",
        "model passes / example ↓",
        "backward passes / example",
        "peak memory",
    ]
    rows = []
    for row in summary.rows:
        entry = families.get(row.method) or {}
        family = entry.get("family", "")
        if entry.get("signed") is False:
            family += " · unsigned"
        seconds = row.costs["seconds"]
        memory = escape(fmt.memory(row.peak_memory_bytes))
        if row.memory_source:
            memory += f"<br><span class='ci'>{escape(row.memory_source)}</span>"
        rows.append(
            [_text(row.method), _text(family), str(row.examples)]
            + [_metric_cell(row, m, summary) for m in summary.metrics]
            + [
                escape(fmt.seconds(seconds))
                + f"<br><span class='ci'>{escape(fmt.interval(seconds, 3))}</span>",
                escape(fmt.passes(row.costs["forward_rows"])),
                escape(fmt.passes(row.costs["backward_rows"])),
                memory,
            ]
        )
    caption = (
        "<p>Mean over the examples where a metric is defined, with its 95% "
        "bootstrap confidence interval and the number of examples n. ↑ higher "
        "is better, ↓ lower is better; ★ and bold mark the best mean of a "
        "column (the intervals say whether the lead is clear). Costs are of "
        "the attribution alone, per example; model passes count rows through "
        "the model (forward_rows); peak memory is the largest recorded. "
        "<em>unsigned</em> marks a method whose scores carry no sign (a "
        "gradient norm, a mask): removal metrics then count words that argue "
        "against the prediction as its evidence; read its plausibility "
        "(agreement with human rationales, where the data set has them) beside "
        "its faithfulness.</p>"
    )
    return "<h2>Metrics</h2>" + caption + _table(head, rows, "metrics")


def _definitions(run: Run, summary: Summary) -> str:
    methods = run.settings.get("method_settings") or {}
    method_rows = [
        [
            _text(m),
            _text((methods.get(m) or {}).get("family")),
            _text((methods.get(m) or {}).get("kind")),
            _text((methods.get(m) or {}).get("description")),
            f"<code>{_text((methods.get(m) or {}).get('settings', {}))}</code>",
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
    return (
        "<h2>Methods</h2>"
        + _table(["method", "family", "kind", "description", "settings"], method_rows)
        + "<h2>Metric definitions</h2>"
        + _table(["metric", "group", "better", "description"], metric_rows)
    )


def _figures(curves: Optional[str], bars: Optional[str]) -> str:
    out = []
    if curves:
        out.append(
            "<h2>Deletion and insertion curves</h2>"
            f'<img alt="mean deletion and insertion curves per method" '
            f'src="data:image/png;base64,{curves}">'
        )
    if bars:
        out.append(
            "<h2>Metrics with 95% confidence intervals</h2>"
            f'<img alt="metric means with confidence intervals" '
            f'src="data:image/png;base64,{bars}">'
        )
    return "".join(out)


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
) -> str:
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
        rows.append(
            [
                "<i>human rationale</i>",
                words_html(words, [0.0] * len(words), rationale),
            ]
        )
    for method in methods:
        record = records.get(method)
        if record is None:
            rows.append([_text(method), "<i>not computed</i>"])
            continue
        words, scores = record["words"], record["scores"]
        scale = max((abs(s) for s in scores), default=0.0)
        marked = rationale if rationale and len(rationale) == len(words) else None
        rows.append([_text(method), words_html(words, scores, marked, scale or None)])
    return (
        f'<div class="example"><h3>Example {_text(example)}</h3>'
        f'<p class="meta">{meta}</p>'
        + _table(["method", "words (colour: score / largest magnitude)"], rows)
        + "</div>"
    )


def _examples_section(run: Run, max_examples: int) -> str:
    by_example: Dict[Any, Dict[str, Dict[str, Any]]] = {}
    for record in run.records:
        by_example.setdefault(record["example"], {})[record["method"]] = record
    order = sorted(by_example)
    shown = order[:max_examples]
    boxed = any(r.get("rationale") for r in run.records)
    intro = (
        f"<p>{len(shown)} of {len(order)} examples (max_examples={max_examples}). "
        "Each method's scores are divided by its largest magnitude for that "
        "example; hover a word for its score."
        + (" Boxed, underlined words are the human rationale." if boxed else "")
        + f"</p><p class='legend'>Legend: {colour_legend_html()}</p>"
    )
    classes = run.settings.get("classes")
    blocks = [_example(e, by_example[e], run.methods, classes) for e in shown]
    return "<h2>Examples</h2>" + intro + "".join(blocks)


def render_page(
    run: Run,
    summary: Summary,
    curves: Optional[str],
    bars: Optional[str],
    max_examples: int,
    plots_missing: bool,
) -> str:
    """The whole HTML document."""
    settings = run.settings
    # The model's folder name, not a path on the machine that ran it.
    model = Path(str(settings.get("model", "?"))).name
    title = (
        f"Benchmark: {model} on "
        f"{settings.get('dataset', '?')} / {settings.get('split', '?')}"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        "<link rel='icon' href='data:,'>"
        f"<title>{escape(title)}</title><style>{_PAGE_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>{_headline(run)}"
        + _notices(run, summary, plots_missing)
        + _metric_table(run, summary)
        + _figures(curves, bars)
        + _examples_section(run, max_examples)
        + _settings_section(run)
        + _definitions(run, summary)
        + "</body></html>\n"
    )
