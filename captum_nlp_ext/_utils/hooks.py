"""Forward hooks on a layer: read its output, or replace it with a given tensor.

Every hook registered here is removed on exit from its context manager, on every
path, exceptions included.

Why not Captum's ``_forward_layer_eval``: it returns the layer's output alone,
and its replacement path takes one tensor for the whole call. Our methods need
the model's output of the same pass, and replace the layer's output row by row
inside batches of perturbed copies, so the hooks are ours.
"""

from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Tuple, TypeVar

import torch
from captum._utils.common import _run_forward
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.outputs import output_to_tensor

_T = TypeVar("_T")


def _check_layer_output(layer: Module, output: Any) -> Tensor:
    if not isinstance(output, Tensor):
        raise TypeError(
            f"`layer` ({type(layer).__name__}) must return a single tensor of shape "
            f"(batch, tokens, hidden); it returned {type(output).__name__}."
        )
    return output


class _LayerRecorder:
    """Keeps the layer output of the most recent forward pass."""

    def __init__(self) -> None:
        self.output: Optional[Tensor] = None

    def __call__(self, module: Module, args: Any, output: Any) -> None:
        self.output = _check_layer_output(module, output)


@contextmanager
def recording_layer_output(layer: Module) -> Iterator[_LayerRecorder]:
    """Record ``layer``'s output while the context is open."""
    recorder = _LayerRecorder()
    handle = layer.register_forward_hook(recorder)
    try:
        yield recorder
    finally:
        handle.remove()


@contextmanager
def replacing_layer_output(
    layer: Module, replacement: Callable[[Tensor], Tensor]
) -> Iterator[None]:
    """Replace ``layer``'s output by ``replacement(output)`` while the context is
    open.

    The replacement must keep the output's shape: the rest of the model was built
    for it, and a silent broadcast would explain a different input.
    """

    def hook(module: Module, args: Any, output: Any) -> Tensor:
        original = _check_layer_output(module, output)
        new = replacement(original)
        if new.shape != original.shape:
            raise ValueError(
                f"The replacement for the output of `layer` has shape "
                f"{tuple(new.shape)}, expected {tuple(original.shape)}."
            )
        return new

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _layer_not_called_error(layer: Module) -> ValueError:
    return ValueError(
        f"`layer` ({type(layer).__name__}) was not called by `forward_func`: pass a "
        "module that is part of the model, e.g. model.get_input_embeddings()."
    )


def run_forward(
    forward_func: Callable[..., Any], inputs: Tensor, additional_forward_args: Tuple
) -> Tensor:
    """Call ``forward_func(inputs, *additional_forward_args)`` through Captum's
    ``_run_forward`` and return the prediction tensor (Captum's would pass a
    Hugging Face ``ModelOutput`` through; every caller here wants its logits)."""
    return output_to_tensor(
        _run_forward(
            forward_func, inputs, additional_forward_args=additional_forward_args
        )
    )


def forward_with_layer_output(
    forward_func: Callable[..., Any],
    layer: Module,
    inputs: Tensor,
    additional_forward_args: Tuple,
) -> Tuple[Tensor, Tensor]:
    """Run the model once and return ``(model_output, layer_output)``.

    Raises:
        ValueError: if ``layer`` is not called by ``forward_func``.
    """
    with recording_layer_output(layer) as recorder:
        output = run_forward(forward_func, inputs, additional_forward_args)
    if recorder.output is None:
        raise _layer_not_called_error(layer)
    return output, recorder.output


class _StopAtLayer(Exception):
    """Raised by a hook to end a forward pass once the layer has run."""


def layer_output_only(
    forward_func: Callable[..., Any],
    layer: Module,
    inputs: Tensor,
    additional_forward_args: Tuple,
) -> Tensor:
    """``layer``'s output for ``inputs``, the forward pass stopped right after
    the layer (the rest of the model does not run: a reference's embeddings
    cost no model pass).

    Raises:
        ValueError: if ``layer`` is not called by ``forward_func``.
    """
    recorder = _LayerRecorder()

    def hook(module: Module, args: Any, output: Any) -> None:
        recorder(module, args, output)
        raise _StopAtLayer

    handle = layer.register_forward_hook(hook)
    try:
        run_forward(forward_func, inputs, additional_forward_args)
    except _StopAtLayer:
        pass
    finally:
        handle.remove()
    if recorder.output is None:
        raise _layer_not_called_error(layer)
    return recorder.output


def forward_with_layer_replaced(
    forward_func: Callable[..., Any],
    layer: Module,
    inputs: Tensor,
    additional_forward_args: Tuple,
    layer_output: Tensor,
) -> Tensor:
    """Run the model with ``layer``'s output replaced by ``layer_output``.

    Raises:
        ValueError: if ``layer`` is not called by ``forward_func``.
    """
    calls: List[int] = []

    def replacement(original: Tensor) -> Tensor:
        calls.append(1)
        return layer_output

    with replacing_layer_output(layer, replacement):
        output = run_forward(forward_func, inputs, additional_forward_args)
    if not calls:
        raise _layer_not_called_error(layer)
    return output


@contextmanager
def frozen_parameters(module: Optional[Module]) -> Iterator[None]:
    """Turn off ``requires_grad`` of ``module``'s parameters, restoring each flag
    on exit, so that an optimization over inputs neither computes nor stores
    parameter gradients."""
    if module is None:
        yield
        return
    flags = [(p, p.requires_grad) for p in module.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """Run ``model`` in eval mode (no dropout), restoring every submodule's own
    mode on exit, on every path; anything but a Module runs as is."""
    if not isinstance(model, Module):
        yield
        return
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag


@contextmanager
def autograd_enabled() -> Iterator[None]:
    """Gradients on for a method that needs them, also when the caller runs it
    inside ``torch.no_grad()`` or ``torch.inference_mode()``."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def outside_inference(value: _T) -> _T:
    """``value`` with every tensor made under ``torch.inference_mode()`` cloned
    into a normal tensor (autograd cannot save inference tensors for backward);
    tuples element by element, anything else unchanged. Call it inside
    :func:`autograd_enabled`."""
    if isinstance(value, tuple):
        return tuple(outside_inference(v) for v in value)  # type: ignore[return-value]
    if isinstance(value, Tensor) and value.is_inference():
        return value.clone()  # type: ignore[return-value]
    return value


def model_of(forward_func: Callable[..., Any]) -> Optional[Module]:
    """The module behind ``forward_func``: itself, the owner of a bound method, or
    the ``model`` attribute of a wrapper; None when there is none."""
    if isinstance(forward_func, Module):
        return forward_func
    owner = getattr(forward_func, "__self__", None)
    if isinstance(owner, Module):
        return owner
    wrapped = getattr(forward_func, "model", None)
    if isinstance(wrapped, Module):
        return wrapped
    return None
