"""The report's figures as base64 PNG: mean deletion / insertion curves per
method, and metric means with their confidence intervals. Needs matplotlib;
each function returns None without it."""

import base64
import io
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from captum_nlp_ext.benchmark._read import Run
from captum_nlp_ext.benchmark._summary import Summary
from captum_nlp_ext.metrics import MetricResult, plot_curves, summarize

CURVES = ("deletion", "insertion")


def matplotlib_available() -> bool:
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        return False
    return True


def _new_figure(rows: int, cols: int, width: float, height: float) -> Tuple[Any, Any]:
    # A bare Figure draws with Agg and leaves pyplot's global state alone.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots(rows, cols, squeeze=False)


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _method_colours(methods: List[str]) -> Dict[str, str]:
    # One colour per method in every figure, whichever methods a figure shows.
    # tab10 up to ten methods; beyond, tab20 keeps every colour distinct.
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    palette = getattr(colormaps["tab10" if len(methods) <= 10 else "tab20"], "colors")
    return {m: to_hex(palette[i % len(palette)]) for i, m in enumerate(methods)}


def _curve_results(run: Run, kind: str) -> Dict[str, MetricResult]:
    pairs: Dict[str, List[Tuple[Tensor, Tensor]]] = {}
    for record in run.records:
        curves = record.get("curves") or {}
        percents, values = curves.get("percents"), curves.get(kind)
        if not percents or not values or len(percents) != len(values):
            continue
        x = torch.tensor(percents, dtype=torch.float64) / 100.0
        y = torch.tensor(values, dtype=torch.float64)
        pairs.setdefault(record["method"], []).append((x, y))
    results = {}
    for method in run.methods:
        if method in pairs:
            areas = torch.stack([torch.trapezoid(y, x) for x, y in pairs[method]])
            results[method] = summarize(f"{kind}_auc", areas, curves=pairs[method])
    return results


def curves_png(run: Run) -> Optional[str]:
    """Mean deletion and insertion curves of each method, side by side; None
    without matplotlib or without curves in the run."""
    if not matplotlib_available():
        return None
    results = {kind: _curve_results(run, kind) for kind in CURVES}
    kinds = [kind for kind in CURVES if results[kind]]
    if not kinds:
        return None
    colours = _method_colours(run.methods)
    rows = 1 + (len(run.methods) - 1) // 2
    figure, axes = _new_figure(1, len(kinds), 5.5 * len(kinds), 4.0 + 0.22 * rows)
    for ax, kind in zip(axes[0], kinds):
        ax.set_prop_cycle(color=[colours[m] for m in results[kind]])
        plot_curves(results[kind], ax=ax)
        better = "lower" if kind == "deletion" else "higher"
        ax.set_title(f"{kind.capitalize()} curve (mean; {better} area is better)")
        ax.grid(alpha=0.3)
        # Below the axes, so that no legend hides a curve.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8)
    return _png(figure)


def bars_png(summary: Summary, columns: int = 3) -> Optional[str]:
    """One panel per metric: each method's mean with its 95% bootstrap
    interval; None without matplotlib or without defined values."""
    if not matplotlib_available():
        return None
    metrics = [
        m for m in summary.metrics if any(r.metrics[m].n > 0 for r in summary.rows)
    ]
    if not metrics:
        return None
    colours = _method_colours([r.method for r in summary.rows])
    cols = min(columns, len(metrics))
    rows = -(-len(metrics) // cols)
    figure, axes = _new_figure(rows, cols, 4.2 * cols, 3.2 * rows)
    for ax, metric in zip(axes.flat, metrics):
        shown = [r for r in summary.rows if r.metrics[metric].n > 0]
        means = np.array([r.metrics[metric].mean for r in shown])
        low = means - np.array([r.metrics[metric].ci_low for r in shown])
        high = np.array([r.metrics[metric].ci_high for r in shown]) - means
        ax.bar(
            range(len(shown)),
            means,
            yerr=np.stack([low, high]),
            capsize=3,
            color=[colours[r.method] for r in shown],
        )
        ax.set_xticks(
            range(len(shown)),
            [r.method for r in shown],
            rotation=45,
            ha="right",
            rotation_mode="anchor",
            fontsize=8,
        )
        higher = summary.higher_is_better[metric]
        arrow = (
            ""
            if higher is None
            else (" (higher is better)" if higher else " (lower is better)")
        )
        ax.set_title(metric + arrow, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    return _png(figure)
