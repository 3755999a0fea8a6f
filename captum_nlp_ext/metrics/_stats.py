"""Row-wise statistics over masked (batch, n) tensors: ranks, Pearson and
Spearman correlations, each row on its own subset of entries."""

import torch
from torch import Tensor


def average_ranks(values: Tensor, valid: Tensor) -> Tensor:
    """1-based ranks of each row's valid entries, ties sharing their mean rank;
    0 on invalid entries. Valid entries must be finite."""
    filled = torch.where(valid, values, torch.inf)
    ordered = filled.sort(dim=1).values
    below = torch.searchsorted(ordered, filled.contiguous(), right=False)
    upto = torch.searchsorted(ordered, filled.contiguous(), right=True)
    ranks = (below + upto + 1).to(torch.float64) / 2
    return torch.where(valid, ranks, 0.0)


def masked_pearson(x: Tensor, y: Tensor, valid: Tensor) -> Tensor:
    """Pearson correlation of each row over its valid entries; NaN for a row with
    fewer than two valid entries or a constant ``x`` or ``y`` (no correlation is
    defined)."""
    x = torch.where(valid, x.to(torch.float64), 0.0)
    y = torch.where(valid, y.to(torch.float64), 0.0)
    n = valid.sum(dim=1).clamp_min(1)
    dx = torch.where(valid, x - x.sum(dim=1, keepdim=True) / n.unsqueeze(1), 0.0)
    dy = torch.where(valid, y - y.sum(dim=1, keepdim=True) / n.unsqueeze(1), 0.0)
    r = (dx * dy).sum(dim=1) / (dx.square().sum(dim=1) * dy.square().sum(dim=1)).sqrt()
    # Constancy is tested exactly: the mean of equal floats can differ from them
    # by rounding, which would turn a constant row into a spurious correlation.
    defined = (valid.sum(dim=1) >= 2) & ~_constant(x, valid) & ~_constant(y, valid)
    return torch.where(defined, r.clamp(-1.0, 1.0), torch.nan)


def masked_spearman(x: Tensor, y: Tensor, valid: Tensor) -> Tensor:
    """Spearman rank correlation of each row over its valid entries (Pearson of
    the average ranks); NaN where :func:`masked_pearson` is."""
    return masked_pearson(average_ranks(x, valid), average_ranks(y, valid), valid)


def _constant(values: Tensor, valid: Tensor) -> Tensor:
    high = torch.where(valid, values, -torch.inf).amax(dim=1)
    low = torch.where(valid, values, torch.inf).amin(dim=1)
    return high == low
