"""A forward function run once per distinct input row, and the distinct rows
of a batch."""

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor

from captum_nlp_ext._utils.batching import attended_lengths, is_batched


class MemoizedForward:
    """``forward_func``, run once per distinct row of token ids.

    The removal metrics of an explanation evaluate many texts more than once:
    the input itself, the all-[PAD] text, the top 10, 20 and 50% of the words
    removed by both AOPC comprehensiveness and the deletion curve, kept by both
    AOPC sufficiency and the insertion curve; Delta Accuracy's top-k removals
    repeat comprehensiveness's for short texts. A row is keyed by its token ids
    and by its row of every additional argument whose first dimension is the
    call's batch (attention mask, token types); other arguments are passed on
    and must not change between calls. Calls with floating inputs or with
    gradients enabled go straight to ``forward_func``. Not for methods that
    replace a layer's output with hooks: the key does not see them.

    Args:
        forward_func (Callable): ``forward_func(inputs, *args)`` returning one
                    output row per input row.
    """

    def __init__(self, forward_func: Callable[..., Tensor]) -> None:
        self.forward_func = forward_func
        # Passes trimmed to their longest row (attended_lengths) cut rows of
        # one text to different widths: such a row is keyed up to its last
        # attended token, so it is found whatever its pass.
        self.attention_mask_arg = getattr(forward_func, "attention_mask_arg", None)
        self.evaluated_rows = 0
        self.requested_rows = 0
        self._outputs: Dict[bytes, Tensor] = {}

    def __call__(self, inputs: Tensor, *args: Any) -> Tensor:
        if torch.is_grad_enabled() or inputs.is_floating_point():
            return self.forward_func(inputs, *args)
        batch = inputs.shape[0]
        aligned = [is_batched(a, batch) for a in args]
        parts = [inputs.cpu().numpy()] + [
            a.cpu().numpy() for a, is_row in zip(args, aligned) if is_row
        ]
        tokens = inputs.shape[1] if inputs.dim() > 1 else 0
        lengths = attended_lengths(self, inputs, args)
        widths = [tokens] * batch if lengths is None else lengths.tolist()
        keys = [
            b"".join(
                (
                    p[row, : widths[row]]
                    if p.ndim > 1 and p.shape[1] == tokens
                    else p[row]
                ).tobytes()
                for p in parts
            )
            for row in range(batch)
        ]
        first_row: Dict[bytes, int] = {}
        for row, key in enumerate(keys):
            if key not in self._outputs:
                first_row.setdefault(key, row)
        self.requested_rows += batch
        if first_row:
            rows = torch.tensor(list(first_row.values()), device=inputs.device)
            row_args: List[Any] = [
                a[rows] if is_row else a for a, is_row in zip(args, aligned)
            ]
            outputs = self.forward_func(inputs[rows], *row_args)
            self._outputs.update(zip(first_row, outputs))
            self.evaluated_rows += len(first_row)
        return torch.stack([self._outputs[key] for key in keys])


@dataclass(frozen=True)
class Repeats:
    """How the rows of a batch repeat one another.

    Attributes:
        first (Tensor): (distinct,) long; the first row of each distinct
                    content, ascending.
        inverse (Tensor): (rows,) long; each row's index into ``first``.
    """

    first: Tensor
    inverse: Tensor


def distinct_rows(values: Tensor, *others: Tensor) -> Optional[Repeats]:
    """The distinct rows of ``values`` (compared exactly, over all but the
    first dimension), or None when no row repeats. Rows equal in ``values``
    but not in one of ``others`` (same first dimension) are not merged: then
    None is returned too, so a caller's result never depends on the merge."""
    n = values.shape[0]
    if n < 2:
        return None
    flat = values.reshape(n, -1)
    # Equal rows have equal sums: when every sum differs (a LIME batch, say)
    # no row repeats, and the exact comparison, a sort of whole rows, is
    # skipped.
    sums = flat.sum(dim=1)
    if torch.unique(sums).numel() == n:
        return None
    _, inverse = torch.unique(flat, dim=0, return_inverse=True)
    distinct = int(inverse.max()) + 1
    if distinct == n:
        return None
    rows = torch.arange(n, device=inverse.device)
    first = torch.full((distinct,), n, device=inverse.device).scatter_reduce(
        0, inverse, rows, reduce="amin"
    )
    chosen = first[inverse]
    if any(not torch.equal(t, t[chosen]) for t in others):
        return None
    # Renumber by first occurrence, so that the distinct rows keep the
    # batch's order (and its passes their composition).
    order = torch.argsort(first)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(distinct, device=order.device)
    return Repeats(first[order], rank[inverse])
