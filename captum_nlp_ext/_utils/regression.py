"""Weighted ridge regression with an intercept, in closed form and batched:
the one solver behind NLGP's local fits and the surrogate of the benchmark's
LIME and KernelSHAP runs."""

from typing import Optional

import torch
from torch import Tensor


def ridge_fit(
    x: Tensor, y: Tensor, weights: Optional[Tensor], valid: Tensor, ridge: float
) -> Tensor:
    """Batched weighted ridge regression with intercept, in closed form.

    Args:
        x (Tensor): (batch, samples, features) regressors.
        y (Tensor): (batch, samples) responses, or (batch, samples, outputs)
                    for several responses fitted on the same design (one
                    solve: the per-output-token fits of a generation).
        weights (Tensor, optional): (batch, samples) sample weights.
        valid (Tensor): (batch, features) bool; invalid features get 0.
        ridge (float): Penalty relative to the mean diagonal of the Gram matrix.

    Returns:
        (batch, features) coefficients, or (batch, outputs, features).
    """
    several = y.dim() == 3
    x = x.to(torch.float64)
    y = (y if several else y.unsqueeze(-1)).to(torch.float64)
    w = torch.ones_like(y[..., 0]) if weights is None else weights.to(torch.float64)
    w = w / w.sum(dim=1, keepdim=True)
    x_centred = x - (w.unsqueeze(-1) * x).sum(dim=1, keepdim=True)
    y_centred = y - (w.unsqueeze(-1) * y).sum(dim=1, keepdim=True)
    weighted = x_centred * w.unsqueeze(-1)
    gram = weighted.transpose(1, 2) @ x_centred
    # (batch, features, outputs); summed as for one output, so that a single
    # fit's numbers do not change with the multi-output form.
    moment = (weighted.unsqueeze(-1) * y_centred.unsqueeze(2)).sum(dim=1)
    valid_ = valid.to(torch.float64)
    diagonal = torch.diagonal(gram, dim1=1, dim2=2)
    scale = (diagonal * valid_).sum(1) / valid_.sum(1).clamp_min(1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    # Invalid features (padding units) get a unit penalty and no moment, so their
    # coefficient is exactly 0 and the system stays solvable even with ridge=0.
    penalty = torch.where(valid, ridge * scale.unsqueeze(1), scale.unsqueeze(1))
    system = gram + torch.diag_embed(penalty)
    coefficients = torch.linalg.solve(system, moment * valid_.unsqueeze(-1))
    coefficients = coefficients.transpose(1, 2) * valid_.unsqueeze(1)
    return coefficients if several else coefficients.squeeze(1)
