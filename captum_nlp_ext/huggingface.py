"""Hugging Face helpers: the embedding layer to explain, a forward function that
returns a tensor, and feature masks built from a fast tokenizer's word ids.

Which embedding layer to target is a recurring question of Captum users
(captum #624, #1132); :func:`get_embedding_layer` answers it for every
``AutoModelForSequenceClassification``.
"""

import os
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.memo import distinct_rows
from captum_nlp_ext._utils.models import ClassifierForward, get_embedding_layer
from captum_nlp_ext._utils.outputs import logits_to_probabilities, output_to_tensor
from captum_nlp_ext._utils.tokens import token_id
from captum_nlp_ext._utils.validation import check_int
from captum_nlp_ext._utils.windows import make_rows, Rows

__all__ = [
    "ClassifierForward",
    "WindowedClassifier",
    "class_names",
    "get_embedding_layer",
    "kept_word_ids",
    "load_classifier",
    "split_words",
    "token_feature_mask",
    "unit_texts",
    "word_feature_mask",
]


class NotAClassifierError(ValueError):
    """A model folder that does not hold a trained sequence classifier."""


def load_classifier(path: Union[str, "os.PathLike[str]"]) -> Tuple[Module, Any]:
    """A local Hugging Face sequence classifier and its tokenizer, in eval mode.

    A folder saved by :meth:`~captum_nlp_ext.attr.VMaskClassifier.save` (it
    holds ``vmask.safetensors``) loads as that
    :class:`~captum_nlp_ext.attr.VMaskClassifier`, its word masks applied.

    Args:
        path (str or PathLike): The model's folder (``save_pretrained``);
                    nothing is downloaded.

    Raises:
        FileNotFoundError: ``path`` is not a folder.
        NotAClassifierError: ``path`` holds another kind of model (a masked
                    language model, say): loaded as a classifier, part of it
                    (its head) would be random weights.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    if not Path(path).is_dir():
        raise FileNotFoundError(f"No model folder at {path}.")
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    # transformers only logs the weights it initialized at random; explaining
    # them would be explaining noise, so their presence is an error.
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            str(path), output_loading_info=True
        )
    finally:
        logging.set_verbosity(verbosity)
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        architectures = getattr(model.config, "architectures", None) or ["unknown"]
        raise NotAClassifierError(
            f"{path} is not a trained sequence classifier (its config says "
            f"{', '.join(architectures)}): loading it as one leaves "
            f"{len(missing)} weights at random ({', '.join(missing[:4])}"
            f"{', ...' if len(missing) > 4 else ''}); give a fine-tuned "
            "AutoModelForSequenceClassification folder."
        )
    model = model.eval()
    # The one upward import: a saved VMaskClassifier loads as one.
    from captum_nlp_ext.attr import VMaskClassifier

    if (Path(path) / VMaskClassifier.MASK_FILE).is_file():
        return VMaskClassifier.load(path, model=model, tokenizer=tokenizer), tokenizer
    return model, tokenizer


def class_names(model: Module) -> Optional[List[str]]:
    """The classes' names from the model's ``config.id2label``, in class order;
    None when the config has none, or only the placeholders ``LABEL_0``..."""
    config = getattr(model, "config", None)
    labels = getattr(config, "id2label", None)
    if not isinstance(labels, dict) or not labels:
        return None
    try:
        names = [str(labels[i]) for i in range(len(labels))]
    except KeyError:
        names = [str(labels.get(str(i), i)) for i in range(len(labels))]
    if all(name == f"LABEL_{i}" for i, name in enumerate(names)):
        return None
    return names


def class_label(names: Optional[Sequence[str]], index: Any) -> str:
    """``names[index]`` when the class has a name, else the index as text."""
    if isinstance(index, int) and names is not None and 0 <= index < len(names):
        return names[index]
    return str(index)


def split_words(tokenizer: Any, text: str) -> List[str]:
    """The words of a raw text as the tokenizer's pre-tokenizer splits it
    (BERT's splits punctuation from words: ``"funny,"`` -> ``funny``, ``,``);
    whitespace words for a tokenizer without one."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    pre = getattr(backend, "pre_tokenizer", None)
    if pre is None:
        return text.split()
    # The text as typed (not normalized, not lower-cased): words stay readable.
    return [piece for piece, _ in pre.pre_tokenize_str(text)]


class WindowedClassifier(Module):
    """A Hugging Face classifier for inputs longer than it takes: the prediction
    is the mean of the class probabilities of overlapping windows.

    Token embeddings are looked up once for the whole input (so that a layer
    attribution method hooked on :meth:`get_input_embeddings` sees one vector per
    token of the whole document), then every input is cut into windows that each
    keep its special tokens and hold at most ``window_size`` tokens, overlapping
    by at least ``window_overlap`` (MaRC's long-document scheme, Brinner and
    Zarriess, 2023); inputs that fit are one window. The output is the log of
    the mean window probabilities, so a softmax of it (``ClassifierForward(...,
    output="probs")``) gives the mean probabilities back; for a single-logit
    classifier it is the logit of the mean sigmoid probability.

    Without gradients (perturbation methods, metrics), windows whose
    embeddings and attention repeat within a call are passed through the model
    once: a row that changes one word of a long review costs the windows that
    hold the word.

    Call as ``classifier(input_ids, attention_mask=None)`` with (batch, tokens)
    token ids; :func:`get_embedding_layer` with ``kind="tokens"`` returns the
    layer to explain.

    Args:
        model (Module): A Hugging Face sequence classifier that accepts
                    ``inputs_embeds``.
        special_token_ids (sequence of int): Ids kept in every window and never
                    cut through, e.g. ``tokenizer.all_special_ids``.
        window_size (int): Most tokens a window holds, specials included.
                    Default: 128
        window_overlap (int): Least number of tokens consecutive windows share.
                    Default: 32
        pad_token_id (int, optional): The padding id. Default: None (the model
                    config's)
        windows_per_pass (int): Windows in one pass of the model. Default: 64
    """

    def __init__(
        self,
        model: Module,
        special_token_ids: Sequence[int],
        window_size: int = 128,
        window_overlap: int = 32,
        pad_token_id: Optional[int] = None,
        windows_per_pass: int = 64,
    ) -> None:
        super().__init__()
        self.model = model
        self.window_size = check_int("window_size", window_size, 2)
        self.window_overlap = check_int("window_overlap", window_overlap, 0)
        self.windows_per_pass = check_int("windows_per_pass", windows_per_pass, 1)
        pad_token_id = token_id("pad_token_id", pad_token_id, model=model)
        if pad_token_id is None:
            raise ValueError("`pad_token_id` is needed: the model's config has none.")
        self.pad_token_id = int(pad_token_id)
        self.special_token_ids: Tensor
        self.register_buffer(
            "special_token_ids",
            torch.tensor(sorted(set(special_token_ids)), dtype=torch.long),
            persistent=False,
        )

    def get_input_embeddings(self) -> Module:
        return get_embedding_layer(self.model, "tokens")

    def forward(
        self, input_ids: Tensor, attention_mask: Optional[Tensor] = None
    ) -> Tensor:
        if input_ids.is_floating_point() or input_ids.dim() != 2:
            raise TypeError(
                "`input_ids` of a WindowedClassifier must be (batch, tokens) token "
                f"ids; got a {input_ids.dtype} tensor of shape "
                f"{tuple(input_ids.shape)}."
            )
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        embeddings = self.get_input_embeddings()(input_ids)
        rows = self._rows(input_ids, attention_mask)
        window_embeddings = rows.cut(embeddings, 0.0)
        window_attention = rows.cut(attention_mask, 0)
        repeats = None
        # A perturbation method changes a few words of a long document in each
        # row, so most windows of its batch repeat the unperturbed ones; with no
        # gradient to keep apart, each distinct window needs one pass only.
        if not (torch.is_grad_enabled() and window_embeddings.requires_grad):
            repeats = distinct_rows(window_embeddings, window_attention)
        if repeats is not None:
            window_embeddings = window_embeddings[repeats.first]
            window_attention = window_attention[repeats.first]
        logits = torch.cat(
            [
                output_to_tensor(
                    self.model(
                        inputs_embeds=window_embeddings[start:stop],
                        attention_mask=window_attention[start:stop],
                    )
                )
                for start, stop in _chunks(
                    len(window_embeddings), self.windows_per_pass
                )
            ]
        )
        if repeats is not None:
            logits = logits[repeats.inverse]
        probs = logits_to_probabilities(logits)
        batch = input_ids.shape[0]
        total = probs.new_zeros(batch, probs.shape[-1]).index_add(
            0, rows.example, probs
        )
        counts = torch.bincount(rows.example, minlength=batch).to(probs)
        mean = total / counts.unsqueeze(1)
        single = logits.shape[-1] == 1
        return torch.logit(mean) if single else torch.log(mean)

    def count_windows(
        self, input_ids: Tensor, attention_mask: Optional[Tensor] = None
    ) -> Tensor:
        """(batch,) the number of windows each input is cut into."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        rows = self._rows(input_ids, attention_mask)
        return torch.bincount(rows.example, minlength=input_ids.shape[0])

    def _rows(self, input_ids: Tensor, attention_mask: Tensor) -> Rows:
        # A [PAD] inside the attended text (a Captum baseline) is text, not a
        # special token; an input with no text at all is one window as is.
        special = self.special_token_ids[self.special_token_ids != self.pad_token_id]
        body = attention_mask.bool() & ~torch.isin(
            input_ids, special.to(input_ids.device)
        )
        empty = ~body.any(dim=1)
        body[empty] = attention_mask[empty].bool()
        return make_rows(
            input_ids, body, self.window_size, self.window_overlap, self.pad_token_id
        )


def _chunks(length: int, size: int) -> List[tuple]:
    return [(start, min(start + size, length)) for start in range(0, length, size)]


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


def kept_word_ids(feature_mask: Tensor) -> List[List[int]]:
    """Per example, the sorted ids of the words that kept at least one token
    (truncation drops the others): index an example's words or word-level gold
    with them to match a word mask built by :func:`word_feature_mask`.

    Args:
        feature_mask (Tensor): (batch, tokens) or (tokens,) word ids, negative
                    for excluded tokens.

    Returns:
        One list of word ids per example.
    """
    rows = feature_mask.unsqueeze(0) if feature_mask.dim() == 1 else feature_mask
    return [torch.unique(row[row >= 0]).tolist() for row in rows]


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
        for token, unit in zip(ids, mask):
            if unit >= 0:
                pieces.setdefault(unit, []).append(token)
        texts.append(
            [
                tokenizer.decode(
                    pieces[unit], clean_up_tokenization_spaces=True
                ).strip()
                for unit in sorted(pieces)
            ]
        )
    return texts
