"""Hugging Face helpers: the embedding layer to explain, a forward function that
returns a tensor, and feature masks built from a fast tokenizer's word ids.

Which embedding layer to target is a recurring question of Captum users
(captum #624, #1132); :func:`get_embedding_layer` answers it for every
``AutoModelForSequenceClassification``.
"""

from typing import Any, List, Optional

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.outputs import output_to_tensor
from captum_nlp_ext._utils.validation import check_choice

__all__ = [
    "ClassifierForward",
    "get_embedding_layer",
    "token_feature_mask",
    "unit_texts",
    "word_feature_mask",
]


def get_embedding_layer(model: Module, kind: str = "tokens") -> Module:
    """The input embedding layer of a Hugging Face model.

    Args:
        model (Module): A ``PreTrainedModel``, e.g. from
                    ``AutoModelForSequenceClassification``.
        kind (str): ``"tokens"``: the token embedding table
                    (``model.get_input_embeddings()``), whose output is one
                    vector per token id; works for every architecture.
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
        if get is None:
            raise TypeError(
                "`model` must be a Hugging Face PreTrainedModel with "
                f"get_input_embeddings(); got {type(model).__name__}."
            )
        return get()
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
        if logits.shape[-1] == 1:
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=-1)

    def __repr__(self) -> str:
        return f"ClassifierForward({type(self.model).__name__}, output={self.output!r})"


def _word_ids(encoding: Any, name: str) -> List[List[Optional[int]]]:
    if not getattr(encoding, "is_fast", False):
        raise TypeError(
            f"`{name}` needs the BatchEncoding of a fast tokenizer (word ids); got "
            f"{type(encoding).__name__}."
        )
    return [encoding.word_ids(i) for i in range(len(encoding["input_ids"]))]


def token_feature_mask(encoding: Any) -> Tensor:
    """Every real token its own unit; special tokens and padding excluded (-1).

    Args:
        encoding (BatchEncoding): Output of a fast tokenizer called on a batch.

    Returns:
        LongTensor (batch, tokens): the token's position, or -1.
    """
    word_ids = _word_ids(encoding, "encoding")
    tokens = len(word_ids[0])
    positions = torch.arange(tokens)
    rows = [
        torch.where(torch.tensor([w is not None for w in ids]), positions, -1)
        for ids in word_ids
    ]
    return torch.stack(rows)


def word_feature_mask(encoding: Any, include_special: bool = False) -> Tensor:
    """Words as units: the sub-tokens of a word share its index.

    The unit id of a token is its word index (``encoding.word_ids``); in a pair
    of texts the second text's words follow the first's, so ids stay unique.
    Words are whatever the tokenizer's pre-tokenizer splits (whitespace and
    punctuation), or the given words with ``is_split_into_words=True``.

    Args:
        encoding (BatchEncoding): Output of a fast tokenizer called on a batch.
        include_special (bool): Give each special token a unit of its own (after
                    the words) instead of excluding it. Padding is always excluded.
                    Default: False

    Returns:
        LongTensor (batch, tokens) of unit ids, -1 for excluded tokens.
    """
    word_ids = _word_ids(encoding, "encoding")
    attention = encoding.get("attention_mask")
    rows = []
    for i, ids in enumerate(word_ids):
        sequence_ids = encoding.sequence_ids(i)
        first_words = 1 + max(
            (w for w, s in zip(ids, sequence_ids) if w is not None and s == 0),
            default=-1,
        )
        n_words = 1 + max(
            (
                w + (first_words if s == 1 else 0)
                for w, s in zip(ids, sequence_ids)
                if w is not None
            ),
            default=-1,
        )
        row = []
        special = n_words
        for position, (w, s) in enumerate(zip(ids, sequence_ids)):
            is_padding = attention is not None and int(attention[i][position]) == 0
            if w is not None:
                row.append(w + (first_words if s == 1 else 0))
            elif include_special and not is_padding:
                row.append(special)
                special += 1
            else:
                row.append(-1)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long)


def unit_texts(
    tokenizer: Any, input_ids: Tensor, feature_mask: Tensor
) -> List[List[str]]:
    """The text of each unit of each example, for display.

    Args:
        tokenizer (PreTrainedTokenizerBase): The tokenizer that made ``input_ids``.
        input_ids (Tensor): (batch, tokens) token ids.
        feature_mask (Tensor): (batch, tokens) unit ids, -1 excluded, as built by
                    :func:`word_feature_mask`.

    Returns:
        For each example, its units' texts ordered by unit id.
    """
    texts = []
    for ids, mask in zip(input_ids.tolist(), feature_mask.tolist()):
        pieces: dict = {}
        for token_id, unit in zip(ids, mask):
            if unit >= 0:
                pieces.setdefault(unit, []).append(token_id)
        texts.append(
            [
                tokenizer.decode(
                    pieces[unit], clean_up_tokenization_spaces=True
                ).strip()
                for unit in sorted(pieces)
            ]
        )
    return texts
