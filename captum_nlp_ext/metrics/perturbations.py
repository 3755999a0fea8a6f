"""Text-safe perturbations for Captum's ``infidelity`` and ``sensitivity_max``.

Captum's metrics perturb ``inputs`` with float noise, which turns token ids into
meaningless floats. Two families that respect text (judge every method under
both, never only the one it is built on):

- :class:`WordMasking`: replace random words by a token such as [MASK]; works on
  token ids.
- :class:`EmbeddingNoise`: Gaussian noise scaled to each token's embedding norm;
  works on embeddings, for a ``forward_func`` fed ``inputs_embeds``
  (:class:`captum_nlp_ext.huggingface.ClassifierForward` accepts them).

Each object gives ``.infidelity`` (returns ``(perturbation, perturbed_inputs)``)
and ``.sensitivity`` (takes ``perturb_radius``, returns perturbed inputs) to pass
as ``perturb_func``.

``sensitivity_max`` repeats each example ``n_perturb_samples`` times and
expands ``additional_forward_args``, ``target`` and ``baselines`` to match, but
passes any other keyword argument as it is: a ``feature_mask`` of one row per
example no longer fits the repeated batch. :func:`bind_per_example` binds such
arguments to the explanation function, repeated as the inputs are.
"""

from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from captum_nlp_ext._utils.deprecation import keyword_only_after, renamed_arguments
from captum_nlp_ext._utils.units import build_units
from captum_nlp_ext._utils.validation import check_float, check_int

__all__ = [
    "EmbeddingNoise",
    "WordMasking",
    "bind_per_example",
    "token_to_embedding_attributions",
]


def _expand_rows(mask: Tensor, batch: int, name: str) -> Tensor:
    # Captum's metrics repeat each example with repeat_interleave.
    if mask.shape[0] == 1 or mask.shape[0] == batch:
        return mask.expand(batch, -1) if mask.shape[0] == 1 else mask
    if batch % mask.shape[0]:
        raise ValueError(
            f"`{name}` has {mask.shape[0]} rows, which does not divide the "
            f"perturbed batch of {batch} rows."
        )
    return mask.repeat_interleave(batch // mask.shape[0], dim=0)


def bind_per_example(
    explanation_func: Callable[..., Any], **per_example: Tensor
) -> Callable[..., Any]:
    """``explanation_func`` with keyword arguments of one row per example
    (e.g. ``feature_mask``) bound, each repeated to the rows of the inputs it
    is called with (Captum's metrics repeat each example with
    ``repeat_interleave``), for :func:`captum.metrics.sensitivity_max`.

    Args:
        explanation_func (Callable): An ``attribute`` method, e.g.
                    ``LayerNLGP(...).attribute``.
        **per_example (Tensor): (batch, ...) or (1, ...) tensors, e.g.
                    ``feature_mask=units``.

    Returns:
        A function of ``(inputs, **kwargs)`` that calls ``explanation_func``
        with the bound arguments repeated to ``inputs``' rows.

    Example::

        >>> masking = WordMasking(tokenizer.mask_token_id, feature_mask=units)
        >>> sensitivity_max(
        ...     bind_per_example(nlgp.attribute, feature_mask=units),
        ...     ids,
        ...     masking.sensitivity,
        ...     perturb_radius=0.1,
        ...     n_perturb_samples=4,
        ...     additional_forward_args=(mask,),
        ...     target=target,
        ... )
    """
    if not callable(explanation_func):
        raise TypeError(
            "`explanation_func` must be callable (an attribute method); got "
            f"{type(explanation_func).__name__}."
        )
    for name, value in per_example.items():
        if not isinstance(value, Tensor) or value.dim() == 0:
            raise TypeError(
                f"`{name}` must be a tensor with one row per example; got "
                f"{type(value).__name__}."
            )

    def explain(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        first = inputs[0] if isinstance(inputs, tuple) else inputs
        rows = {
            name: _expand_rows(value.to(first.device), first.shape[0], name)
            for name, value in per_example.items()
        }
        return explanation_func(inputs, *args, **kwargs, **rows)

    return explain


class WordMasking:
    """Replace each unit (word) with probability ``rate`` by one token id.

    Args:
        replacement_token_id (int): The id that replaces masked tokens, e.g.
                    ``tokenizer.mask_token_id`` or ``tokenizer.unk_token_id``.
        feature_mask (Tensor, optional): (batch, tokens) or (1, tokens) unit ids
                    of the unperturbed batch; all tokens of a unit are masked
                    together; negative ids (specials, padding) are never masked.
                    Default: None (every token is a unit)
        rate (float): Probability of masking a unit, for ``.infidelity``
                    (``.sensitivity`` uses ``perturb_radius`` instead).
                    Default: 0.2
        shared_scores (bool): For ``.infidelity``: True when the attributions
                    give every token its unit's score (this package's methods),
                    so a masked unit's tokens are weighted 1/size and the unit
                    counts once; False when a unit's score is the sum of its
                    tokens' (Captum's token-level methods). Irrelevant when units
                    are tokens.
                    Default: True
    """

    @keyword_only_after(3)
    def __init__(
        self,
        replacement_token_id: int,
        feature_mask: Optional[Tensor] = None,
        *,
        rate: float = 0.2,
        shared_scores: bool = True,
    ) -> None:
        self.replacement_token_id = check_int(
            "replacement_token_id", replacement_token_id, 0
        )
        self.feature_mask = feature_mask
        self.rate = check_float("rate", rate, 0.0, 1.0)
        self.shared_scores = shared_scores

    def _mask(self, inputs: Tensor, rate: float) -> Tuple[Tensor, Tensor]:
        if inputs.dim() != 2 or inputs.is_floating_point():
            raise TypeError(
                "WordMasking perturbs token ids: `inputs` must be an integer tensor "
                f"(batch, tokens); got {inputs.dtype} of shape {tuple(inputs.shape)}."
            )
        batch, tokens = inputs.shape
        feature_mask = (
            None
            if self.feature_mask is None
            else _expand_rows(
                self.feature_mask.to(inputs.device), batch, "feature_mask"
            )
        )
        units = build_units(feature_mask, batch, tokens, inputs.device)
        drawn = torch.rand(batch, units.max_units, device=inputs.device) < rate
        masked_units = (drawn & units.valid).float()
        masked = units.to_tokens(masked_units) > 0
        weights = masked.float()
        if self.shared_scores:
            sizes = units.to_tokens(units.sizes()).clamp_min(1)
            weights = weights / sizes
        perturbed = inputs.masked_fill(masked, self.replacement_token_id)
        return weights, perturbed

    def infidelity(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """``perturb_func`` for :func:`captum.metrics.infidelity`: the perturbation
        is the (weighted) indicator of masked tokens, so that the sum of the
        masked units' attributions is compared with the drop of the output."""
        return self._mask(inputs, self.rate)

    def sensitivity(self, inputs: Tensor, perturb_radius: float) -> Tensor:
        """``perturb_func`` for :func:`captum.metrics.sensitivity_max`: masks each
        unit with probability ``perturb_radius``."""
        check_float("perturb_radius", perturb_radius, 0.0, 1.0)
        return self._mask(inputs, perturb_radius)[1]


class EmbeddingNoise:
    """Gaussian noise on embeddings (batch, tokens, hidden).

    With ``relative=True`` the noise of token t is
    ``stdevs * ||e_t|| * z / sqrt(hidden)``, z ~ N(0, I): its expected norm is a
    fraction ``stdevs`` of the token's own norm, whatever the embedding scale.

    Args:
        stdevs (float): Noise scale for ``.infidelity`` (``.sensitivity`` uses
                    ``perturb_radius``). Default: 0.05
        relative (bool): Scale the noise to each token's norm; False adds noise of
                    standard deviation ``stdevs`` to every coordinate.
                    Default: True
        token_mask (Tensor, optional): (batch or 1, tokens) bool or 0/1; tokens
                    where it is 0 (padding, specials) get no noise.
                    Default: None (all tokens)
    """

    @renamed_arguments(std="stdevs")
    @keyword_only_after(2)
    def __init__(
        self,
        stdevs: float = 0.05,
        *,
        relative: bool = True,
        token_mask: Optional[Tensor] = None,
    ) -> None:
        self.stdevs = check_float("stdevs", stdevs, 0.0, low_inclusive=True)
        self.relative = relative
        self.token_mask = token_mask

    def _noise(self, inputs: Tensor, stdevs: float) -> Tensor:
        if inputs.dim() != 3 or not inputs.is_floating_point():
            raise TypeError(
                "EmbeddingNoise perturbs embeddings: `inputs` must be a float tensor "
                f"(batch, tokens, hidden); got {inputs.dtype} of shape "
                f"{tuple(inputs.shape)}."
            )
        noise = stdevs * torch.randn_like(inputs)
        if self.relative:
            noise = noise * inputs.norm(dim=-1, keepdim=True) / inputs.shape[-1] ** 0.5
        if self.token_mask is not None:
            keep = _expand_rows(
                self.token_mask.to(inputs.device), inputs.shape[0], "token_mask"
            )
            noise = noise * keep.unsqueeze(-1).to(noise.dtype)
        return noise

    def infidelity(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """``perturb_func`` for :func:`captum.metrics.infidelity`. Captum compares
        ``sum(attributions * perturbation)`` with ``f(x) - f(x - perturbation)``,
        so the perturbation returned is the negated noise."""
        noise = self._noise(inputs, self.stdevs)
        return -noise, inputs + noise

    def sensitivity(self, inputs: Tensor, perturb_radius: float) -> Tensor:
        """``perturb_func`` for :func:`captum.metrics.sensitivity_max`."""
        check_float("perturb_radius", perturb_radius, 0.0, low_inclusive=True)
        return inputs + self._noise(inputs, perturb_radius)


def token_to_embedding_attributions(attributions: Tensor, embeddings: Tensor) -> Tensor:
    r"""Read token scores as directional derivatives along each embedding:
    :math:`A_t = s_t\, e_t / \lVert e_t \rVert^2`, so that
    :math:`A_t \cdot (c\, e_t) = c\, s_t`.

    This gives (batch, tokens) scores of methods such as LayerNLGP (whose
    coefficients estimate :math:`\nabla_{e_t} y \cdot e_t`) the shape of the
    embeddings, as :func:`captum.metrics.infidelity` requires with
    :class:`EmbeddingNoise`.

    Args:
        attributions (Tensor): (batch, tokens) scores.
        embeddings (Tensor): (batch, tokens, hidden) the explained embeddings.
    """
    if attributions.shape != embeddings.shape[:2] or embeddings.dim() != 3:
        raise ValueError(
            "`attributions` (batch, tokens) and `embeddings` (batch, tokens, hidden) "
            f"must match; got {tuple(attributions.shape)} and "
            f"{tuple(embeddings.shape)}."
        )
    squared = embeddings.pow(2).sum(-1, keepdim=True)
    return attributions.unsqueeze(-1) * embeddings / squared.clamp_min(1e-12)
