"""The result every metric returns: per-example values, their mean and a 95%
bootstrap confidence interval."""

from dataclasses import dataclass, field
from typing import Any, Dict

import torch
from torch import Tensor

from captum_nlp_ext._utils.deprecation import keyword_only_after


@dataclass(frozen=True)
class MetricResult:
    """Per-example values of a metric and their summary.

    Attributes:
        name (str): The metric, e.g. ``"comprehensiveness"``.
        per_example (Tensor): (n,) values, NaN where undefined for an example.
        mean (float): Mean over the examples where the value is defined.
        ci_low (float): Lower end of the bootstrap confidence interval of the mean.
        ci_high (float): Upper end.
        n (int): Number of examples with a defined value.
        details (dict): Settings that shaped the value (removal mode, k, ...).
    """

    name: str
    per_example: Tensor
    mean: float
    ci_low: float
    ci_high: float
    n: int
    details: Dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.mean:.4f} "
            f"[{self.ci_low:.4f}, {self.ci_high:.4f}] (n={self.n})"
        )


@keyword_only_after(2)
def summarize(
    name: str,
    per_example: Tensor,
    *,
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
    **details: Any,
) -> MetricResult:
    """Wrap per-example values into a :class:`MetricResult`.

    The interval is the percentile bootstrap of the mean over ``n_bootstrap``
    resamples of the defined (non-NaN) values; with fewer than two values it
    collapses to the mean.

    Args:
        name (str): The metric's name.
        per_example (Tensor): (n,) values; NaN marks an undefined value.
        confidence (float): Coverage of the interval. Default: 0.95
        n_bootstrap (int): Resamples. Default: 1000
        seed (int): Seed of the resampling. Default: 0
        **details: Settings recorded in the result.
    """
    values = per_example.detach().reshape(-1).to(torch.float64).cpu()
    defined = values[~torch.isnan(values)]
    n = defined.numel()
    if n == 0:
        nan = float("nan")
        return MetricResult(name, per_example.detach().cpu(), nan, nan, nan, 0, details)
    mean = float(defined.mean())
    if n < 2:
        return MetricResult(
            name, per_example.detach().cpu(), mean, mean, mean, n, details
        )
    generator = torch.Generator().manual_seed(seed)
    resamples = torch.randint(0, n, (n_bootstrap, n), generator=generator)
    means = defined[resamples].mean(dim=1)
    alpha = (1 - confidence) / 2
    low, high = torch.quantile(
        means, torch.tensor([alpha, 1 - alpha], dtype=means.dtype)
    )
    return MetricResult(
        name, per_example.detach().cpu(), mean, float(low), float(high), n, details
    )
