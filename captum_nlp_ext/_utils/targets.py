"""Target selection, the same in every method and metric.

``target`` follows Captum's convention for classifiers, with one addition:
``None`` on a two-dimensional output means the predicted (argmax) class, because
that is what users of text classifiers explain.
"""

from typing import List, Optional, Sequence, Union

import torch
from captum._utils.common import _select_targets
from torch import Tensor

# Narrower than Captum's TargetType: a classifier has one class per example, so
# Captum's tuple targets (indices into multi-dimensional outputs) do not apply,
# and None means the predicted class rather than "the output is a score".
TargetType = Union[None, int, Sequence[int], Tensor]


def resolve_target(target: TargetType, output: Tensor) -> Optional[Tensor]:
    """Validate ``target`` against a model output and return one class per example.

    Args:
        target (int, list[int], Tensor or None): Class to explain for each example.
        output (Tensor): The model's output on the unperturbed inputs, of shape
                    (batch,) for a scalar score or (batch, classes).

    Returns:
        LongTensor of shape (batch,) on ``output``'s device, or None when the
        output is already one score per example.
    """
    if output.dim() not in (1, 2):
        raise ValueError(
            "`forward_func` must return one score per example (batch,) or one per "
            f"class (batch, classes); got shape {tuple(output.shape)}."
        )
    batch = output.shape[0]
    if output.dim() == 1:
        if target is not None:
            raise ValueError(
                "`target` must be None when `forward_func` returns one score per "
                f"example (output shape {tuple(output.shape)})."
            )
        return None
    n_classes = output.shape[1]
    if target is None:
        return output.argmax(dim=1)
    resolved = _as_long_tensor(target, batch).to(output.device)
    out_of_range = (resolved < 0) | (resolved >= n_classes)
    if bool(out_of_range.any()):
        bad: List[int] = resolved[out_of_range].tolist()
        raise ValueError(
            f"`target` {bad} out of range: `forward_func` returns {n_classes} "
            f"classes, so targets must lie in [0, {n_classes - 1}]."
        )
    return resolved


def _as_long_tensor(target: TargetType, batch: int) -> Tensor:
    if isinstance(target, bool):
        raise TypeError("`target` must be an int, a list of ints or a tensor.")
    if isinstance(target, int):
        return torch.full((batch,), target, dtype=torch.long)
    if isinstance(target, Tensor):
        if target.is_floating_point() or target.is_complex():
            raise TypeError("`target` must hold integer class indices.")
        values = target.reshape(-1).long()
    elif isinstance(target, Sequence) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in target
    ):
        values = torch.tensor(list(target), dtype=torch.long)
    else:
        raise TypeError(
            "`target` must be None, an int, a list of ints or an integer tensor; "
            f"got {type(target).__name__}."
        )
    if values.numel() == 1:
        return values.expand(batch).clone()
    if values.numel() != batch:
        raise ValueError(
            f"`target` has {values.numel()} entries; expected 1 or the batch size "
            f"{batch}."
        )
    return values


def select_target(output: Tensor, target: Optional[Tensor]) -> Tensor:
    """Pick each row's target score: (rows, classes) -> (rows,), with Captum's
    selection. ``target`` is what :func:`resolve_target` returned, so Captum's
    many target forms (and their assertion errors) never reach it."""
    return _select_targets(output, target)
