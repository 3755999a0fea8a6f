"""Checks at the door, shared by every method: each error names its argument."""

from typing import Any, Optional, Tuple

from captum._utils.common import _format_additional_forward_args
from torch import Tensor


def check_inputs(inputs: Any) -> Tensor:
    """``inputs`` must be token ids (batch, tokens) of an integer dtype, or
    embeddings (batch, tokens, hidden) of a floating dtype, with batch >= 1.

    A one-element tuple is unwrapped: Captum's metrics pass inputs as tuples.
    """
    if isinstance(inputs, tuple) and len(inputs) == 1:
        inputs = inputs[0]
    if not isinstance(inputs, Tensor):
        raise TypeError(
            "`inputs` must be a tensor of token ids (batch, tokens) or of embeddings "
            f"(batch, tokens, hidden); got {type(inputs).__name__}."
        )
    if inputs.dim() == 2:
        if inputs.is_floating_point() or inputs.is_complex():
            raise TypeError(
                "`inputs` of shape (batch, tokens) must hold integer token ids; got "
                f"dtype {inputs.dtype}. Pass ids as a LongTensor, or embeddings as "
                "(batch, tokens, hidden)."
            )
    elif inputs.dim() == 3:
        if not inputs.is_floating_point():
            raise TypeError(
                "`inputs` of shape (batch, tokens, hidden) must be floating point "
                f"embeddings; got dtype {inputs.dtype}."
            )
    else:
        raise ValueError(
            "`inputs` must have shape (batch, tokens) or (batch, tokens, hidden); got "
            f"{tuple(inputs.shape)}."
        )
    if inputs.shape[0] == 0:
        raise ValueError("`inputs` is an empty batch: it needs at least one example.")
    if inputs.shape[1] == 0:
        raise ValueError("`inputs` has no tokens.")
    return inputs


def match_inputs_format(inputs: Any, attributions: Tensor) -> Any:
    """Captum's convention: a tuple of inputs gets a tuple of attributions."""
    return (attributions,) if isinstance(inputs, tuple) else attributions


def format_additional_forward_args(
    additional_forward_args: Any, inputs: Optional[Tensor] = None
) -> Tuple:
    """Captum's convention: None, one object, or a tuple of positional arguments.

    Captum's own formatter, with None as the empty tuple so that callers can
    always unpack it. Given the checked ``inputs``, each argument that is a
    per-token integer tensor (an attention mask, token type ids: 2-D, of an
    integer or bool dtype) must have their (batch, tokens) shape, so that a
    mask cut one token short is named here rather than deep inside the
    model."""
    args = _format_additional_forward_args(additional_forward_args) or ()
    if inputs is not None:
        shape = tuple(inputs.shape[:2])
        for position, arg in enumerate(args):
            per_token = isinstance(arg, Tensor) and arg.dim() == 2
            if per_token and not arg.is_floating_point() and arg.shape != shape:
                raise ValueError(
                    f"`additional_forward_args`: argument {position} (e.g. the "
                    f"attention mask) has shape {tuple(arg.shape)}; the inputs' "
                    f"(batch, tokens) is {shape}."
                )
    return args


def check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int; got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}; got {value}.")
    return value


def check_optional_int(name: str, value: Any, minimum: int) -> Any:
    return None if value is None else check_int(name, value, minimum)


def check_float(
    name: str,
    value: Any,
    low: float,
    high: float = float("inf"),
    low_inclusive: bool = False,
    high_inclusive: bool = True,
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a number; got {type(value).__name__}.")
    above = value >= low if low_inclusive else value > low
    below = value <= high if high_inclusive else value < high
    if not (above and below):
        lo, hi = "[" if low_inclusive else "(", "]" if high_inclusive else ")"
        raise ValueError(f"`{name}` must lie in {lo}{low}, {high}{hi}; got {value}.")
    return float(value)


def check_choice(name: str, value: Any, choices: Tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}; got {value!r}.")
    return value
