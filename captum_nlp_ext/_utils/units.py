"""Units of attribution: tokens, or groups of tokens given by a ``feature_mask``.

Captum's convention: ``feature_mask`` has the shape of the token ids and tokens
that share a value form one unit (a word, a phrase). captum-nlp-ext adds one
rule: a negative value excludes the token (padding, [CLS], [SEP]); it is never
perturbed and its attribution is 0.
"""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

POOLS = ("auto", "sum", "mean", "max_abs")


@dataclass(frozen=True)
class Units:
    """Per-example units, renumbered 0..count-1 in order of their mask value.

    Attributes:
        index (Tensor): (batch, tokens) long; the unit of each token, -1 if
                    excluded.
        count (Tensor): (batch,) long; the number of units of each example.
    """

    index: Tensor
    count: Tensor

    @property
    def max_units(self) -> int:
        return int(self.count.max().item())

    @property
    def included(self) -> Tensor:
        """(batch, tokens) bool: tokens that belong to a unit."""
        return self.index >= 0

    @property
    def valid(self) -> Tensor:
        """(batch, max_units) bool: unit slots that exist for each example."""
        slots = torch.arange(self.max_units, device=self.count.device)
        return slots.unsqueeze(0) < self.count.unsqueeze(1)

    def to_tokens(self, unit_values: Tensor) -> Tensor:
        """Spread (batch, max_units, ...) unit values onto tokens; 0 where excluded."""
        gathered = unit_values.gather(
            1,
            self.index.clamp(min=0)
            .view(*self.index.shape, *([1] * (unit_values.dim() - 2)))
            .expand(*self.index.shape, *unit_values.shape[2:]),
        )
        keep = self.included.view(*self.index.shape, *([1] * (unit_values.dim() - 2)))
        return gathered * keep.to(gathered.dtype)

    def sizes(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """(batch, max_units): the number of tokens of each unit (0 for empty
        slots)."""
        ones = self.included.to(dtype)
        return self._scatter_sum(ones)

    def _scatter_sum(self, token_values: Tensor) -> Tensor:
        # Excluded tokens go to an extra slot that is dropped: no (units x tokens)
        # table, so long documents stay cheap.
        slot = torch.where(self.included, self.index, self.max_units)
        pooled = token_values.new_zeros(self.index.shape[0], self.max_units + 1)
        return pooled.scatter_add_(1, slot, token_values)[:, :-1]

    def _scatter_extreme(self, token_values: Tensor, reduce: str) -> Tensor:
        """(batch, max_units) highest or lowest token value of each unit (0 in
        empty slots)."""
        slot = torch.where(self.included, self.index, self.max_units)
        out = token_values.new_zeros(self.index.shape[0], self.max_units + 1)
        out.scatter_reduce_(1, slot, token_values, reduce=reduce, include_self=False)
        return out[:, :-1]

    def pool(self, token_values: Tensor, reduce: str = "sum") -> Tensor:
        """Gather (batch, tokens) token values into (batch, max_units) unit values.

        ``reduce`` is ``"sum"`` (a word's total effect, for token-level methods),
        ``"mean"`` (recovers the shared value of unit-level methods),
        ``"max_abs"`` (the token of largest magnitude, sign kept; tokens tied in
        magnitude are averaged) or ``"auto"``: per example, the mean when every
        unit's tokens carry one shared value (unit-level methods: LayerNLGP,
        occlusion with a feature mask) and the sum otherwise. Empty slots are 0.
        """
        if reduce == "auto":
            # Shared means every token of a unit holds the same value, tested
            # exactly (highest == lowest): a mean recomputed from the tokens
            # can differ from that value by rounding.
            high = self._scatter_extreme(token_values, "amax")
            low = self._scatter_extreme(token_values, "amin")
            shared = ((high == low) | ~self.valid).all(dim=1)
            summed = self._scatter_sum(token_values)
            return torch.where(shared.unsqueeze(1), high * self.valid, summed)
        if reduce == "sum":
            return self._scatter_sum(token_values)
        if reduce == "mean":
            sizes = self.sizes(token_values.dtype).clamp_min(1)
            return self._scatter_sum(token_values) / sizes
        if reduce == "max_abs":
            slot = torch.where(self.included, self.index, self.max_units)
            largest = token_values.new_zeros(self.index.shape[0], self.max_units + 1)
            largest.scatter_reduce_(
                1, slot, token_values.abs(), reduce="amax", include_self=False
            )
            # Keep the sign of the token that reached the unit's largest magnitude.
            is_largest = token_values.abs() == largest.gather(1, slot)
            signed = token_values.new_zeros(largest.shape)
            signed.scatter_reduce_(
                1,
                slot,
                torch.where(is_largest, token_values, torch.zeros_like(token_values)),
                reduce="sum",
                include_self=False,
            )
            counts = token_values.new_zeros(largest.shape)
            counts.scatter_add_(1, slot, is_largest.to(token_values.dtype))
            return (signed / counts.clamp_min(1))[:, :-1]
        raise ValueError(f"`pool` must be one of {list(POOLS)}; got {reduce!r}.")

    def select(self, example_index: Tensor) -> "Units":
        return Units(self.index[example_index], self.count[example_index])


def build_units(
    feature_mask: Optional[Tensor], batch: int, tokens: int, device: torch.device
) -> Units:
    """Validate ``feature_mask`` and turn it into :class:`Units`.

    Args:
        feature_mask (Tensor or None): (batch, tokens) or (1, tokens) integer unit
                    ids; negative ids exclude a token. None makes every token its
                    own unit.
        batch (int): Number of examples.
        tokens (int): Sequence length.
        device (torch.device): Where the units live.
    """
    if feature_mask is None:
        index = torch.arange(tokens, device=device).expand(batch, tokens).clone()
        return Units(index, torch.full((batch,), tokens, device=device))
    if not isinstance(feature_mask, Tensor):
        raise TypeError(
            "`feature_mask` must be an integer tensor of shape (batch, tokens); got "
            f"{type(feature_mask).__name__}."
        )
    if feature_mask.is_floating_point() or feature_mask.dtype == torch.bool:
        raise TypeError(
            "`feature_mask` must hold integer unit ids (negative = excluded); got "
            f"dtype {feature_mask.dtype}."
        )
    if (
        feature_mask.dim() != 2
        or feature_mask.shape[1] != tokens
        or (feature_mask.shape[0] not in (1, batch))
    ):
        raise ValueError(
            f"`feature_mask` must have shape ({batch}, {tokens}) or (1, {tokens}) to "
            f"match the inputs; got {tuple(feature_mask.shape)}."
        )
    mask = feature_mask.to(device=device, dtype=torch.long).expand(batch, tokens)
    included = mask >= 0
    span = int(mask.max().item()) + 1 if bool(included.any()) else 1
    example = torch.arange(batch, device=device).unsqueeze(1)
    keys = torch.where(included, example * span + mask, torch.full_like(mask, -1))
    unique_keys, inverse = torch.unique(keys, return_inverse=True)
    boundaries = torch.arange(batch + 1, device=device) * span
    first = torch.searchsorted(unique_keys, boundaries)
    count = first[1:] - first[:-1]
    empty = (count == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(
            f"`feature_mask` leaves example(s) {empty} without any unit: every "
            "example needs at least one non-negative unit id."
        )
    index = torch.where(included, inverse - first[:-1].unsqueeze(1), -1)
    return Units(index, count)


def unit_means(token_values: Tensor, feature_mask: Tensor) -> Tensor:
    """(batch, tokens) values made one per unit of ``feature_mask``: each
    token gets its unit's mean, excluded tokens 0 (for methods whose scores
    are per token and whose users group them into words)."""
    batch, tokens = token_values.shape
    units = build_units(feature_mask, batch, tokens, token_values.device)
    return units.to_tokens(units.pool(token_values, "mean"))
