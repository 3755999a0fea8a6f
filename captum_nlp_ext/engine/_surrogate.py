"""The closed-form surrogate of our LIME and KernelSHAP runs."""

from typing import Any, Optional

import torch
from captum._utils.models.model import Model
from torch import Tensor

from captum_nlp_ext._utils.regression import ridge_fit


class WeightedLeastSquares(Model):
    """Closed-form weighted ridge regression (:func:`ridge_fit`, NLGP's
    solver), the surrogate of our LIME and KernelSHAP runs: Captum's defaults
    are scikit-learn models (not a dependency here), and the closed form is
    exact and fast for one example's few features. The intercept is fitted
    (not penalised) and not returned."""

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
        x = torch.cat(xs)
        y = torch.cat(ys).reshape(len(x), -1).T  # (outputs, samples)
        w = torch.cat(ws).reshape(1, -1).expand_as(y)
        regressors = x.unsqueeze(0).expand(len(y), -1, -1)
        valid = torch.ones(len(y), x.shape[1], dtype=torch.bool)
        fitted = ridge_fit(regressors, y, w, valid, self.ridge)
        self.coefficients = fitted.float()

    def representation(self) -> Tensor:
        if self.coefficients is None:
            raise RuntimeError("fit() first")
        return self.coefficients

    def __call__(self, x: Tensor) -> Tensor:
        return x.float() @ self.representation().T
