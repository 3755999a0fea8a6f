"""The engine of NLGP (normalized linear Gaussian perturbations, MASE, arXiv
2512.04386): the perturbations of one call, their regressors and the batched
ridge fit. The face is :class:`~captum_nlp_ext.attr.LayerNLGP`."""

import math
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from captum_nlp_ext._utils.messages import warn_caller
from captum_nlp_ext._utils.random import example_generator, normal_at
from captum_nlp_ext._utils.units import Units

PERTURBATIONS = ("scale", "reference", "isotropic")


def sample_counts(
    units: Tensor, n_samples: int, samples_per_unit: Optional[float]
) -> List[int]:
    """Samples of each example: ``n_samples``, or with ``samples_per_unit``
    ``max(n_samples, ceil(samples_per_unit * units))`` for its units."""
    if samples_per_unit is None:
        return [n_samples] * len(units)
    return [
        max(n_samples, math.ceil(samples_per_unit * int(u))) for u in units.tolist()
    ]


def warn_underdetermined(units: Tensor, counts: List[int]) -> None:
    """Warn when an example has fewer samples than units: its fit has more
    coefficients than equations, and the ridge penalty, not the model, then
    decides most of its scores (on 30 IMDB reviews of 143 words, NLGP at 32-128
    samples scored near random: benchmarks/nlgp/RESULTS.md)."""
    short = [(int(u), c) for u, c in zip(units.tolist(), counts) if c < int(u)]
    if short:
        most = max(u for u, _ in short)
        warn_caller(
            f"LayerNLGP: {len(short)} example(s) have fewer samples than units "
            f"(up to {most} units, {min(c for _, c in short)} samples): the fit is "
            "underdetermined and its scores are mostly noise. Raise `n_samples` or "
            "pass `samples_per_unit` (e.g. 8 samples a unit)."
        )


#: The convergence estimate at and above which a fit is too noisy to rank its
#: units: there most fits' word order correlates poorly with that of a fit of
#: far more samples (benchmarks/nlgp/convergence.py on SST-2 dev). For two
#: unrelated half-fits the estimate is about 0.7.
NOISY_FIT = 0.5


class Design:
    """The random perturbations of one call, and their regressors."""

    def __init__(
        self,
        embeddings: Tensor,
        units: Units,
        counts: List[int],
        sigma: float,
        perturbation: str,
        p_perturb: float,
        seeds: Optional[List[int]],
    ) -> None:
        self.embeddings = embeddings
        self.units = units
        self.counts = counts
        self.sigma = sigma
        self.perturbation = perturbation
        self.seeds = seeds
        self.direction: Optional[Tensor] = None
        batch, tokens, hidden = embeddings.shape
        device, dtype = embeddings.device, embeddings.dtype
        n_samples = max(counts)
        # Row r of the evaluated rows is sample row_sample[r] of example
        # row_example[r]; an example's samples past its own count are absent.
        self.row_example = torch.repeat_interleave(
            torch.arange(batch, device=device), torch.tensor(counts, device=device)
        )
        self.row_sample = torch.cat([torch.arange(n, device=device) for n in counts])
        self.present = torch.arange(n_samples, device=device) < torch.tensor(
            counts, device=device
        ).unsqueeze(1)
        self.sizes = torch.zeros(batch, n_samples, units.max_units, device=device)
        self.active = torch.zeros_like(self.sizes)
        for i in range(batch):
            generator = example_generator(None if seeds is None else seeds[i], device)
            count = int(units.count[i])
            shape = (counts[i], count)
            self.sizes[i, : counts[i], :count] = sigma * torch.randn(
                shape, generator=generator, device=device
            )
            self.active[i, : counts[i], :count] = (
                torch.rand(shape, generator=generator, device=device) < p_perturb
            ).to(self.active)
        self.sizes = (self.sizes * self.active).to(dtype)
        if perturbation == "isotropic":
            # Filled batch by batch in layer_rows, from per-sample seeds, so that
            # the directions never need to be held for all samples at once.
            self.projections = torch.zeros(
                batch, n_samples, tokens, device=device, dtype=dtype
            )
            self.norms = embeddings.norm(dim=-1, keepdim=True)

    def _token_sizes(self, example: Tensor, sample: Tensor) -> Tensor:
        return self.units.select(example).to_tokens(self.sizes[example, sample])

    def scatter(self, scores: Tensor) -> Tensor:
        """Scores of the evaluated rows, (rows[, outputs]) -> (batch, samples[,
        outputs]), 0 where absent."""
        out = scores.new_zeros(self.present.shape + scores.shape[1:])
        out[self.row_example, self.row_sample] = scores
        return out

    def layer_rows(self, rows: Tensor) -> Tensor:
        example, sample = self.row_example[rows], self.row_sample[rows]
        base = self.embeddings[example]
        if self.perturbation == "scale":
            return base * (1 + self._token_sizes(example, sample)).unsqueeze(-1)
        if self.perturbation == "reference":
            assert self.direction is not None
            shift = self._token_sizes(example, sample).unsqueeze(-1)
            return base + shift * self.direction[example]
        return base + self._isotropic_noise(example, sample)

    def _isotropic_noise(self, example: Tensor, sample: Tensor) -> Tensor:
        hidden, dtype = self.embeddings.shape[2], self.embeddings.dtype
        units = self.units.select(example)
        seeds = (
            None
            if self.seeds is None
            else [
                self.seeds[e] + 1 + n for e, n in zip(example.tolist(), sample.tolist())
            ]
        )
        directions = normal_at(units.included, hidden, seeds, self.embeddings)
        on = units.to_tokens(self.active[example, sample].to(dtype))
        norms = self.norms[example]
        noise = self.sigma * norms * directions / hidden**0.5 * on.unsqueeze(-1)
        base = self.embeddings[example]
        self.projections[example, sample] = (noise * base).sum(-1) / (
            norms.squeeze(-1) ** 2
        ).clamp_min(torch.finfo(dtype).tiny)
        return noise

    def regressors(self) -> Tuple[Tensor, Tensor]:
        """(batch, samples, features) design and (batch, features) validity."""
        if self.perturbation == "isotropic":
            return self.projections, self.units.included
        return self.sizes, self.units.valid

    def unit_scores(self, coefficients: Tensor) -> Tensor:
        """Fit coefficients -> (batch, max_units) attributions."""
        if self.perturbation == "isotropic":
            return self.units.pool(coefficients, "sum")
        if self.perturbation == "reference":
            return -coefficients
        return coefficients

    def sample_weights(self, kernel_width: Optional[float]) -> Optional[Tensor]:
        """(batch, samples) weights of the fit: the kernel's, 0 on absent
        samples; None when every sample is present and weighs the same."""
        present = self.present.to(self.embeddings.dtype)
        if kernel_width is None:
            return None if bool(self.present.all()) else present
        regressors, valid = self.regressors()
        features = valid.sum(dim=1, keepdim=True).clamp_min(1)
        distance = regressors.pow(2).sum(-1) / (features * self.sigma**2)
        return torch.exp(-distance / kernel_width**2) * present
