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
        internal_batch_size (int, optional): Rows per forward pass.
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
    batch = inputs.shape[0]
    row_example = row_example.to(inputs.device)
    outputs = []
    for rows in row_chunks(
        row_example.shape[0], internal_batch_size, show_progress, desc, inputs.device
    ):
        example = row_example[rows]
        chunk_inputs = input_rows(rows) if input_rows is not None else inputs[example]
        chunk_args = index_additional_forward_args(
            additional_forward_args, example, batch
        )
        if layer_rows is not None:
            assert layer is not None
            output = forward_with_layer_replaced(
                forward_func, layer, chunk_inputs, chunk_args, layer_rows(rows)
            )
        else:
            output = run_forward(forward_func, chunk_inputs, chunk_args)
        if target is not None:
            output = select_target(output, target[example])
        outputs.append(check_finite(output, "The model's output", example))
    return torch.cat(outputs)
