"""What the attribution methods need of a Hugging Face model: its embedding
layer and a forward function that returns a tensor. Their home is here, beneath
:mod:`captum_nlp_ext.attr`; users import them from
:mod:`captum_nlp_ext.huggingface`."""

from typing import Any, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.outputs import logits_to_probabilities, output_to_tensor
from captum_nlp_ext._utils.validation import check_choice


def get_embedding_layer(model: Module, kind: str = "tokens") -> Module:
    """The input embedding layer of a Hugging Face model, or of any module
    with one token embedding table.

    Args:
        model (Module): A ``PreTrainedModel``, e.g. from
                    ``AutoModelForSequenceClassification``, or any module
                    holding exactly one ``torch.nn.Embedding`` (a CNN or LSTM
                    text classifier, for instance).
        kind (str): ``"tokens"``: the token embedding table
                    (``model.get_input_embeddings()``, else the module's one
                    ``nn.Embedding``), whose output is one vector per token
                    id; works for every architecture.
                    ``"full"``: the whole embedding block (token + position
                    [+ segment] embeddings, LayerNorm), e.g.
                    ``model.bert.embeddings``; architectures without such a block
                    (GPT-2) raise a ValueError.
                    Default: "tokens"

    Returns:
        The module to pass as ``layer`` to a layer attribution method.
    """
    check_choice("kind", kind, ("tokens", "full"))
    if kind == "tokens":
        get = getattr(model, "get_input_embeddings", None)
        if get is not None:
            return get()
        if not isinstance(model, Module):
            raise TypeError(f"`model` must be a Module; got {type(model).__name__}.")
        tables = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
        if len(tables) != 1:
            raise ValueError(
                f"{type(model).__name__} has {len(tables)} nn.Embedding layers and "
                "no get_input_embeddings(): pass the token embedding layer itself "
                "(`layer`)."
            )
        return tables[0]
    base = getattr(model, "base_model", model)
    block = getattr(base, "embeddings", None)
    if not isinstance(block, Module):
        raise ValueError(
            f"{type(model).__name__} has no embedding block (base_model.embeddings); "
            "use kind='tokens'."
        )
    return block


class ClassifierForward:
    """Forward function for a Hugging Face sequence classifier that returns a
    tensor, as Captum requires.

    Called as ``forward(inputs, attention_mask=None, token_type_ids=None)``:
    integer ``inputs`` are token ids, floating ``inputs`` of shape
    (batch, tokens, hidden) are passed as ``inputs_embeds``.

    Args:
        model (Module): The classifier (any ``AutoModelForSequenceClassification``
                    or a module returning a ``ModelOutput`` with ``logits``).
        output (str): ``"logits"``, or ``"probs"`` for softmax probabilities
                    (sigmoid for a single-logit classifier).
                    Default: "logits"
    """

    # The attention mask is the first additional argument, and the model
    # masks padding out: passes may drop the padding columns
    # (captum_nlp_ext._utils.batching.attended_lengths).
    attention_mask_arg = 0

    def __init__(self, model: Module, output: str = "logits") -> None:
        self.model = model
        self.output = check_choice("output", output, ("logits", "probs"))

    def __call__(
        self,
        inputs: Tensor,
        attention_mask: Optional[Tensor] = None,
        token_type_ids: Optional[Tensor] = None,
    ) -> Tensor:
        kwargs: dict = {}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        if inputs.is_floating_point():
            kwargs["inputs_embeds"] = inputs
        else:
            kwargs["input_ids"] = inputs
        logits = output_to_tensor(self.model(**kwargs))
        if self.output == "logits":
            return logits
        return logits_to_probabilities(logits)

    def __repr__(self) -> str:
        return f"ClassifierForward({type(self.model).__name__}, output={self.output!r})"


def attention_mask_of(
    forward_func: Any, inputs: Tensor, args: Tuple, declared_only: bool = False
) -> Optional[Tensor]:
    """The attention mask among ``forward_func``'s additional arguments
    ``args``: at the position ``forward_func`` declares
    (``attention_mask_arg``, as :class:`ClassifierForward` does), else the
    first (the Hugging Face order after the ids) unless ``declared_only``;
    None when that argument is not a tensor shaped like ``inputs``' (batch,
    tokens)."""
    position = getattr(forward_func, "attention_mask_arg", None)
    if position is None:
        if declared_only:
            return None
        position = 0
    if inputs.dim() < 2 or position >= len(args):
        return None
    mask = args[position]
    if not isinstance(mask, Tensor) or mask.shape != inputs.shape[:2]:
        return None
    return mask
