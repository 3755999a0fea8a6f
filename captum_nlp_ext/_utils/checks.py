"""Checks of the model and of what it returns, shared by every method.

They run at the door of each ``attribute`` (:func:`check_model_call`) and on
the model's outputs (:func:`check_finite`), so that a wrong model state or a
broken model ends in one clear message instead of silently wrong attributions
or an error deep inside the model.
"""

import warnings
from typing import Any, Callable, List, Optional

import torch
from torch import Tensor
from torch.nn import Module
from torch.nn.modules.dropout import _DropoutNd

from captum_nlp_ext._utils.hooks import model_of
from captum_nlp_ext._utils.validation import check_int


class NonFiniteError(ValueError):
    """The model returned NaN or infinite values for some examples.

    Attributes:
        examples (list of int): The examples' positions in the batch.
    """

    def __init__(self, message: str, examples: List[int]) -> None:
        super().__init__(message)
        self.examples = examples


def check_finite(
    values: Tensor, what: str, row_example: Optional[Tensor] = None
) -> Tensor:
    """Raise :class:`NonFiniteError` naming the examples whose ``values`` (one
    row per example, or per perturbed copy when ``row_example`` maps copies to
    examples) hold NaN or infinity; return ``values`` otherwise."""
    if not values.is_floating_point() or values.numel() == 0:
        return values
    finite = torch.isfinite(values.detach())
    bad_rows = ~finite.reshape(finite.shape[0], -1).all(1) if finite.dim() else ~finite
    if not bool(bad_rows.any()):
        return values
    rows = bad_rows.nonzero().flatten()
    if row_example is not None:
        rows = row_example.to(rows.device)[rows]
    examples = sorted(set(rows.tolist()))
    raise NonFiniteError(
        f"{what} is NaN or infinite for example(s) {examples} (positions in the "
        "batch): the model cannot be explained there. Check the model (weights, "
        "dtype, overflow) and the inputs of those examples.",
        examples,
    )


def check_layer_output(
    layer_output: Tensor, inputs: Tensor, hidden: bool = True
) -> Tensor:
    """The layer's output must be (batch, tokens, hidden) (or, with
    ``hidden=False``, at least (batch, tokens)) aligned with ``inputs``."""
    aligned = layer_output.shape[:2] == inputs.shape[:2]
    if not aligned or (hidden and layer_output.dim() != 3):
        shape = "(batch, tokens, hidden)" if hidden else "(batch, tokens, ...)"
        raise ValueError(
            f"`layer` must output {shape} aligned with `inputs` "
            f"{tuple(inputs.shape[:2])}; got {tuple(layer_output.shape)}."
        )
    return layer_output


def check_model_call(
    forward_func: Callable[..., Any],
    layer: Optional[Module],
    inputs: Tensor,
    method: str,
    length: Optional[int] = None,
) -> None:
    """Checks before a method runs the model on ``inputs``.

    - A model in training mode with active dropout gives random outputs (a seed
      no longer reproduces the attributions): warned.
    - Token ids outside the embedding table's vocabulary: ValueError.
    - More tokens than the model's positions (``config.max_position_embeddings``;
      ``length`` replaces the input's length when a method cuts inputs into
      windows itself): ValueError pointing to windows.

    Args:
        forward_func (Callable): The method's forward function.
        layer (Module, optional): The method's layer (its vocabulary when it is
                    a token table or a block holding one).
        inputs (Tensor): Token ids (batch, tokens) or embeddings.
        method (str): The method's name, for the messages.
        length (int, optional): The longest row the model will see.
                    Default: None (``inputs.shape[1]``)
    """
    model = model_of(forward_func)
    warn_if_training(model, method)
    if not inputs.is_floating_point():
        size = vocabulary_size(layer, model)
        if size is not None and inputs.numel():
            low, high = int(inputs.min()), int(inputs.max())
            if low < 0 or high >= size:
                raise ValueError(
                    f"`inputs` holds token ids in [{low}, {high}], outside the "
                    f"vocabulary [0, {size - 1}] of the model's embedding layer: "
                    "were they made by another tokenizer?"
                )
    limit = position_limit(model)
    tokens = inputs.shape[1] if length is None else length
    if limit is not None and tokens > limit:
        raise ValueError(
            f"`inputs` has {tokens} tokens a row, more than the model's "
            f"{limit} positions (config.max_position_embeddings). Truncate "
            f"(tokenizer(..., truncation=True, max_length={limit})) or explain "
            "long texts through windows (captum_nlp_ext.huggingface."
            "WindowedClassifier; `window_size` of LayerMaskOptimization; "
            "--window on the command line)."
        )


def warn_if_training(model: Optional[Module], method: str) -> None:
    """Warn when ``model`` has dropout layers active (training mode)."""
    if model is None or not model.training:
        return
    active = sum(
        1 for m in model.modules() if isinstance(m, _DropoutNd) and m.training and m.p
    )
    if active:
        warnings.warn(
            f"{method}: the model is in training mode with {active} active dropout "
            "layer(s), so its outputs are random and a seed does not reproduce the "
            "attributions. Call model.eval() before explaining it.",
            UserWarning,
            stacklevel=4,
        )


def vocabulary_size(layer: Optional[Module], model: Optional[Module]) -> Optional[int]:
    """The number of token ids of the embedding table: ``layer`` itself, its
    ``word_embeddings`` (a Hugging Face embedding block), or the model's input
    embeddings; None when none of them is a table."""
    candidates = [layer, getattr(layer, "word_embeddings", None)]
    get = getattr(model, "get_input_embeddings", None)
    if callable(get):
        try:
            candidates.append(get())
        except (NotImplementedError, AttributeError):
            pass
    for table in candidates:
        count = getattr(table, "num_embeddings", None)
        if isinstance(count, int):
            return count
    return None


#: Tokens an example is cut to when a run does not say (within the model's
#: positions).
DEFAULT_MAX_LENGTH = 128


def resolve_max_length(
    max_length: Optional[int], model: Optional[Module], hint: str = ""
) -> int:
    """A run's ``max_length``: :data:`DEFAULT_MAX_LENGTH` within the model's
    positions when None, else checked (>= 2, within the positions; ``hint``
    ends the error, e.g. what to do instead)."""
    limit = position_limit(model)
    if max_length is None:
        return DEFAULT_MAX_LENGTH if limit is None else min(DEFAULT_MAX_LENGTH, limit)
    check_int("max_length", max_length, 2)
    if limit is not None and max_length > limit:
        raise ValueError(
            f"`max_length` {max_length} is past the model's {limit} positions{hint}."
        )
    return max_length


def position_limit(model: Optional[Module]) -> Optional[int]:
    """The model's most positions (``config.max_position_embeddings``) when it
    has learned absolute positions; None otherwise."""
    config = getattr(model, "config", None)
    limit = getattr(config, "max_position_embeddings", None)
    kind = getattr(config, "position_embedding_type", "absolute")
    if not isinstance(limit, int) or kind != "absolute":
        return None
    # RoBERTa-style models number positions from padding_idx + 1.
    if getattr(config, "model_type", "") in _OFFSET_POSITIONS:
        limit -= 2
    return limit


_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert", "longformer")
