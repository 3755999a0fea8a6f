"""Number formatting shared by the HTML and Markdown tables."""

import math
from typing import Optional

from captum_nlp_ext.metrics import MetricResult

MISSING = "–"


def number(value: Optional[float], digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:.{digits}f}"


def interval(result: MetricResult, digits: int = 3) -> str:
    if result.n == 0:
        return ""
    return f"[{number(result.ci_low, digits)}, {number(result.ci_high, digits)}]"


def seconds(result: MetricResult) -> str:
    return MISSING if result.n == 0 else f"{result.mean:.3g}"


def passes(result: MetricResult) -> str:
    return MISSING if result.n == 0 else f"{result.mean:.1f}"


def memory(peak_bytes: Optional[int]) -> str:
    if peak_bytes is None:
        return MISSING
    return f"{peak_bytes / 2**20:.1f} MiB"


def arrow(higher_is_better: Optional[bool]) -> str:
    if higher_is_better is None:
        return ""
    return "↑" if higher_is_better else "↓"
