"""Examples longer than a model takes, as rows: each example as one row, or cut
into overlapping windows whose per-token values are blended linearly back onto
the example (the long-document scheme of MaRC, Brinner and Zarriess, 2023).
Used by mask optimization and by
:class:`~captum_nlp_ext.huggingface.WindowedClassifier`.

A window keeps the example's leading excluded tokens (e.g. [CLS]), a slice of
its body (first to last included token) and the excluded tokens after the body
that are not padding (e.g. [SEP]). Windows are right-padded to a common length;
a padded slot has position -1.
"""

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import torch
from torch import Tensor

from captum_nlp_ext._utils.batching import is_batched


@dataclass(frozen=True)
class Rows:
    """Where each row's tokens come from, and how much each row's value of a
    token weighs in the blend.

    Attributes:
        example (Tensor): (rows,) long; the example of each row, ascending.
        position (Tensor): (rows, length) long; the example's token position of
                    each slot, -1 for padding slots.
        blend (Tensor): (rows, length) float; per token of an example, the
                    weights of the rows that hold it sum to 1 (0 on slots that
                    are not part of a window's body).
    """

    example: Tensor
    position: Tensor
    blend: Tensor

    def __len__(self) -> int:
        return self.example.shape[0]

    def rows_of(self, batch: int) -> List[List[int]]:
        """The rows of each example, in order."""
        rows: List[List[int]] = [[] for _ in range(batch)]
        for row, example in enumerate(self.example.tolist()):
            rows[example].append(row)
        return rows

    def cut(self, values: Tensor, fill: Any) -> Tensor:
        """(batch, tokens, ...) example values -> (rows, length, ...)."""
        gathered = values[self.example.unsqueeze(1), self.position.clamp(min=0)]
        slot = (self.position >= 0).view(
            *self.position.shape, *([1] * (values.dim() - 2))
        )
        return torch.where(slot, gathered, torch.full_like(gathered, fill))

    def cut_args(self, args: Tuple, batch: int, tokens: int) -> Tuple:
        """Additional forward arguments for the rows: (batch, tokens) tensors
        (attention masks, token types) are cut like the inputs and padded with 0;
        other tensors whose first dimension is the batch are taken from each
        row's example; anything else is passed unchanged."""
        cut = []
        for arg in args:
            if (
                isinstance(arg, Tensor)
                and arg.dim() >= 2
                and arg.shape[:2]
                == (
                    batch,
                    tokens,
                )
            ):
                cut.append(self.cut(arg, 0))
            elif is_batched(arg, batch):
                cut.append(arg[self.example.to(arg.device)])
            else:
                cut.append(arg)
        return tuple(cut)

    def merge(self, values: Tensor, batch: int, tokens: int) -> Tensor:
        """Blend (rows, length) row values into (batch, tokens) example values."""
        merged = torch.zeros(batch, tokens, dtype=values.dtype, device=values.device)
        weighted = values * self.blend.to(values.dtype)
        slot = self.position >= 0
        example = self.example.unsqueeze(1).expand_as(self.position)
        merged.index_put_(
            (example[slot], self.position[slot]), weighted[slot], accumulate=True
        )
        return merged


def make_rows(
    inputs: Tensor,
    included: Tensor,
    window_size: Optional[int],
    window_overlap: int,
    pad_token_id: Optional[int],
) -> Rows:
    """Cut every example that does not fit into ``window_size`` tokens into
    overlapping windows; other examples become one row each.

    Windows of an example all hold the same number of body tokens and are spread
    evenly, so consecutive windows share at least ``window_overlap`` tokens. In
    a stretch two windows share, the first one's weight falls linearly from 1
    to 0 and the second one's rises, so the blend moves linearly from one
    window's values to the next's (where three windows meet, the ramps are
    normalized to sum to 1).

    Args:
        inputs (Tensor): (batch, tokens) token ids.
        included (Tensor): (batch, tokens) bool, tokens that belong to a unit;
                    every example has at least one.
        window_size (int, optional): Most tokens a row may have; None keeps each
                    example whole.
        window_overlap (int): Least number of body tokens consecutive windows
                    share.
        pad_token_id (int, optional): The padding id, needed (and only read)
                    when some example is cut.
    """
    batch, tokens = included.shape
    device = included.device
    if window_size is None or tokens <= window_size:
        return Rows(
            torch.arange(batch, device=device),
            torch.arange(tokens, device=device).expand(batch, tokens).clone(),
            torch.ones(batch, tokens, device=device),
        )
    if inputs.dim() != 2:
        raise ValueError(
            "`window_size` cuts token ids only: pass `inputs` as (batch, tokens) "
            f"ids to explain inputs longer than {window_size} tokens."
        )
    if pad_token_id is None:
        raise ValueError(
            "Windows need the padding token id: pass `pad_token_id` (the "
            "model's config has none)."
        )
    positions = torch.arange(tokens, device=device)
    example_rows: List[int] = []
    position_rows: List[Tensor] = []
    blend_rows: List[Tensor] = []
    for i in range(batch):
        inside = included[i].nonzero().flatten()
        first, last = int(inside[0]), int(inside[-1])
        prefix = positions[:first]
        body = positions[first : last + 1]
        suffix = positions[last + 1 :][inputs[i, last + 1 :] != pad_token_id]
        room = window_size - prefix.numel() - suffix.numel()
        for start, weights in _windows(body.numel(), room, window_overlap, i):
            length = weights.numel()
            example_rows.append(i)
            position_rows.append(
                torch.cat([prefix, body[start : start + length], suffix])
            )
            blend_rows.append(
                torch.cat(
                    [
                        torch.zeros(prefix.numel(), device=device),
                        weights.to(device),
                        torch.zeros(suffix.numel(), device=device),
                    ]
                )
            )
    length = max(p.numel() for p in position_rows)
    position = torch.full((len(position_rows), length), -1, device=device)
    blend = torch.zeros(len(position_rows), length, device=device)
    for row, (p, b) in enumerate(zip(position_rows, blend_rows)):
        position[row, : p.numel()] = p
        blend[row, : b.numel()] = b
    return Rows(torch.tensor(example_rows, device=device), position, blend)


def _windows(n: int, room: int, overlap: int, example: int) -> List[Tuple[int, Tensor]]:
    """(start, blend weights) of the windows over a body of ``n`` tokens."""
    if n <= room:
        return [(0, torch.ones(n))]
    if room <= overlap:
        raise ValueError(
            f"`window_overlap` ({overlap}) must be smaller than the body tokens a "
            f"window of example {example} can hold ({room}); lower it or raise "
            "`window_size`."
        )
    count = math.ceil((n - overlap) / (room - overlap))
    starts = torch.linspace(0, n - room, count).round().long().tolist()
    offsets = torch.arange(room, dtype=torch.float32)
    ramps = []
    for w, start in enumerate(starts):
        # Ramps span the stretch shared with each neighbour, so that where two
        # windows meet their weights cross linearly and sum to 1.
        ramp = torch.ones(room)
        shared_before = starts[w - 1] + room - start if w > 0 else 0
        shared_after = start + room - starts[w + 1] if w < count - 1 else 0
        if shared_before > 0:
            ramp = torch.minimum(ramp, (offsets + 0.5) / shared_before)
        if shared_after > 0:
            ramp = torch.minimum(ramp, (room - offsets - 0.5) / shared_after)
        ramps.append(ramp)
    total = torch.zeros(n)
    for start, ramp in zip(starts, ramps):
        total[start : start + room] += ramp
    return [
        (start, ramp / total[start : start + room])
        for start, ramp in zip(starts, ramps)
    ]
