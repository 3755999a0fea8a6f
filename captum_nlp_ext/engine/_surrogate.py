"""The closed-form surrogate of our LIME and KernelSHAP runs."""

from typing import Any, Optional

import torch
from captum._utils.models.model import Model
from torch import Tensor


class WeightedLeastSquares(Model):
    """Closed-form weighted ridge regression, the surrogate of our LIME and
    KernelSHAP runs: Captum's defaults are scikit-learn models (not a
    dependency here), and the closed form is exact and fast for one example's
    few features. The intercept is fitted and not returned."""

    def __init__(self, ridge: float = 1e-6) -> None:
        self.ridge = ridge
        self.coefficients: Optional[Tensor] = None

    def fit(self, train_data: Any, **kwargs: Any) -> None:
        xs, ys, ws = [], [], []
        for batch in train_data:
            x, y = batch[0], batch[1]
            w = batch[2] if len(batch) > 2 else torch.ones(len(x))
            xs.append(x)
            ys.append(y)
            ws.append(w)
        x = torch.cat(xs).double()
        y = torch.cat(ys).double().reshape(len(x), -1)
        w = torch.cat(ws).double().reshape(-1, 1)
        design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
        gram = design.T @ (w * design)
        gram += self.ridge * gram.diagonal().abs().mean() * torch.eye(len(gram))
        solution = torch.linalg.solve(gram, design.T @ (w * y))
        self.coefficients = solution[:-1].T.float()

    def representation(self) -> Tensor:
        if self.coefficients is None:
            raise RuntimeError("fit() first")
        return self.coefficients

    def __call__(self, x: Tensor) -> Tensor:
        return x.float() @ self.representation().T
