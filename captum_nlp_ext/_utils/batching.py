"""Evaluate many perturbed copies of a batch of examples in internal batches.

A method describes its perturbed copies as *rows*: row ``r`` belongs to example
``row_example[r]``. For each internal batch of rows the model inputs, the
``additional_forward_args`` (attention masks...) and the target are taken from
the row's example, and the layer output, when given, replaces the layer's.
"""

from typing import Any, Callable, Iterator, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module
from tqdm.auto import tqdm

from captum_nlp_ext._utils.checks import check_finite
from captum_nlp_ext._utils.hooks import forward_with_layer_replaced, run_forward
from captum_nlp_ext._utils.models import attention_mask_of
from captum_nlp_ext._utils.targets import select_target

DEFAULT_INTERNAL_BATCH_SIZE = 64


def is_batched(arg: Any, batch: int) -> bool:
    """Whether ``arg`` holds one row per example: a tensor whose first
    dimension is the batch size (anything else is shared by all rows)."""
    return isinstance(arg, Tensor) and arg.dim() > 0 and arg.shape[0] == batch


def index_additional_forward_args(
    additional_forward_args: Tuple, example_index: Tensor, batch: int
) -> Tuple:
    """Take each row's example from every tensor argument that is batched.

    A tensor whose first dimension is the batch size is indexed; anything else
    (a scalar, a flag, a tensor shared by all examples) is passed unchanged.
    """
    return tuple(
        (arg[example_index.to(arg.device)] if is_batched(arg, batch) else arg)
        for arg in additional_forward_args
    )


def row_chunks(
    n_rows: int,
    internal_batch_size: Optional[int],
    show_progress: bool,
    desc: str,
    device: torch.device,
) -> Iterator[Tensor]:
    """Yield consecutive row indices, ``internal_batch_size`` at a time."""
    size = internal_batch_size or DEFAULT_INTERNAL_BATCH_SIZE
    starts = range(0, n_rows, size)
    for start in tqdm(starts, desc=desc, disable=not show_progress, leave=False):
        yield torch.arange(start, min(start + size, n_rows), device=device)


def attended_lengths(
    forward_func: Callable[..., Any], inputs: Tensor, additional_forward_args: Tuple
) -> Optional[Tensor]:
    """(batch,) columns each example needs, up to its last attended token, when
    ``forward_func`` says which of its additional arguments is an attention
    mask that it honours (attribute ``attention_mask_arg``, e.g.
    :class:`~captum_nlp_ext.huggingface.ClassifierForward`); else None.

    Columns past an example's last attended token are padding the model masks
    out, so a pass of rows may drop the columns past its longest row: the
    outputs are the same up to floating-point rounding.
    """
    mask = attention_mask_of(
        forward_func, inputs, additional_forward_args, declared_only=True
    )
    return None if mask is None else needed_columns(mask != 0)


def needed_columns(needed: Tensor) -> Tensor:
    """(rows,) columns each row of the (rows, tokens) bool ``needed`` takes: up
    to its last True (at least 1)."""
    last = needed.shape[1] - needed.flip(1).int().argmax(1)
    return torch.where(needed.any(1), last, 1)


def trim_columns(args: Tuple, tokens: int, width: int) -> Tuple:
    """Every tensor argument with ``tokens`` columns (dimension 1) cut to its
    first ``width``; anything else unchanged."""
    if width == tokens:
        return args
    return tuple(
        (
            arg[:, :width]
            if isinstance(arg, Tensor) and arg.dim() >= 2 and arg.shape[1] == tokens
            else arg
        )
        for arg in args
    )


def packed_chunks(
    row_example: Tensor,
    lengths: Optional[Tensor],
    internal_batch_size: Optional[int],
    show_progress: bool,
    desc: str,
) -> Iterator[Tuple[Tensor, Optional[int]]]:
    """Row indices in passes of ``internal_batch_size``, and the columns each
    pass needs (its longest row's example length; None without ``lengths``).

    With ``lengths`` the rows are taken in order of their example's length
    (ties in row order), so that each pass holds rows of like length and is
    padded only to its own longest: the rows of all examples of a call are
    packed together. Without, consecutive rows, as :func:`row_chunks`.
    """
    device = row_example.device
    if lengths is None:
        for rows in row_chunks(
            row_example.shape[0], internal_batch_size, show_progress, desc, device
        ):
            yield rows, None
        return
    lengths = lengths.to(device)
    row_lengths = lengths[row_example]
    order = torch.sort(row_lengths, stable=True).indices
    for chunk in row_chunks(
        row_example.shape[0], internal_batch_size, show_progress, desc, device
    ):
        rows = order[chunk]
        yield rows, int(row_lengths[rows].max())


def evaluate_rows(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    additional_forward_args: Tuple,
    row_example: Tensor,
    target: Optional[Tensor],
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
    desc: str = "forward passes",
    layer: Optional[Module] = None,
    layer_rows: Optional[Callable[[Tensor], Tensor]] = None,
    input_rows: Optional[Callable[[Tensor], Tensor]] = None,
) -> Tensor:
    """Model outputs for every row, computed in internal batches.

    Args:
        forward_func (Callable): The model's forward function.
        inputs (Tensor): The unperturbed inputs, (batch, tokens[, hidden]).
        additional_forward_args (tuple): Extra positional arguments of
                    ``forward_func`` for the unperturbed batch.
        row_example (Tensor): (rows,) long; the example each row belongs to.
        target (Tensor or None): (batch,) classes; when given, each row's output
                    is reduced to its example's target score.
        internal_batch_size (int, optional): Rows per forward pass. When
                    ``forward_func`` names its attention mask
                    (:func:`attended_lengths`), the rows of all examples are
                    packed by length and each pass drops the padding past its
                    longest row.
                    Default: None (64 rows)
        show_progress (bool): Show a tqdm bar over internal batches.
        desc (str): The bar's label.
        layer (Module, optional): Layer whose output ``layer_rows`` replaces.
        layer_rows (Callable, optional): ``rows -> (len(rows), tokens, hidden)``
                    layer output for those rows.
        input_rows (Callable, optional): ``rows -> model inputs`` for those rows;
                    by default the row's example's inputs.

    Returns:
        (rows,) scores when ``target`` is given or the model returns one score an
        example, else (rows, classes).
    """
    batch, tokens = inputs.shape[0], inputs.shape[1] if inputs.dim() > 1 else 1
    row_example = row_example.to(inputs.device)
    lengths = attended_lengths(forward_func, inputs, additional_forward_args)
    outputs, order = [], []
    for rows, width in packed_chunks(
        row_example, lengths, internal_batch_size, show_progress, desc
    ):
        example = row_example[rows]
        chunk_inputs = input_rows(rows) if input_rows is not None else inputs[example]
        chunk_args = index_additional_forward_args(
            additional_forward_args, example, batch
        )
        layer_output = layer_rows(rows) if layer_rows is not None else None
        if width is not None:
            chunk_inputs = chunk_inputs[:, :width]
            chunk_args = trim_columns(chunk_args, tokens, width)
            if layer_output is not None:
                layer_output = layer_output[:, :width]
        if layer_output is not None:
            assert layer is not None
            output = forward_with_layer_replaced(
                forward_func, layer, chunk_inputs, chunk_args, layer_output
            )
        else:
            output = run_forward(forward_func, chunk_inputs, chunk_args)
        if target is not None:
            output = select_target(output, target[example])
        outputs.append(check_finite(output, "The model's output", example))
        order.append(rows)
    result = torch.cat(outputs)
    if lengths is None:
        return result
    restored = torch.empty_like(result)
    restored[torch.cat(order)] = result
    return restored
