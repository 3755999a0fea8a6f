"""What the ERASER scripts share: documents tokenized whole, and a forward
function that classifies a document longer than the model takes from MaRC's
overlapping windows (the mean of the windows' class probabilities)."""

from typing import Any, List, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext.attr._core._windows import make_rows
from captum_nlp_ext.datasets import align_word_labels, TextExample
from captum_nlp_ext.huggingface import word_feature_mask


def encode_document(
    tokenizer: Any, example: TextExample, max_words: Optional[int] = None
) -> Tuple[Tensor, Tensor, Tensor, Optional[Tensor]]:
    """(input_ids, attention_mask, word feature mask, token rationale or None),
    each (1, tokens), of a document's first ``max_words`` words (all of them by
    default), never truncated to the model's length."""
    words = list(example.words[:max_words])
    encoding = tokenizer(
        words, is_split_into_words=True, truncation=False, return_tensors="pt"
    )
    rationale = None
    if example.rationale is not None:
        gold = align_word_labels(encoding, example.rationale[: len(words)])
        rationale = torch.tensor([gold])
    return (
        encoding["input_ids"],
        encoding["attention_mask"],
        word_feature_mask(encoding),
        rationale,
    )


class WindowedForward:
    """Classify copies of one document from its windows.

    Called as ``forward(inputs, attention_mask)`` with (copies, tokens) token
    ids, or (copies, tokens, hidden) word embeddings, of the document (words
    may be replaced, the length stays); returns (copies, classes) log mean
    window probabilities, so that a softmax of the output gives the mean
    probabilities back.

    Args:
        model (Module): A Hugging Face sequence classifier.
        input_ids (Tensor): (1, tokens) the document.
        feature_mask (Tensor): (1, tokens) its word ids, -1 on specials.
        window_size (int): Tokens a window holds at most.
        window_overlap (int): Least number of tokens windows share.
        pad_token_id (int): The padding id.
        windows_per_pass (int): Windows a forward pass of the model holds.
    """

    def __init__(
        self,
        model: Module,
        input_ids: Tensor,
        feature_mask: Tensor,
        window_size: int,
        window_overlap: int,
        pad_token_id: int,
        windows_per_pass: int = 64,
    ) -> None:
        self.model = model
        rows = make_rows(
            input_ids, feature_mask >= 0, window_size, window_overlap, pad_token_id
        )
        self.position = rows.position
        self.pad_token_id = pad_token_id
        self.windows_per_pass = windows_per_pass

    @property
    def windows(self) -> int:
        return self.position.shape[0]

    def __call__(self, inputs: Tensor, attention_mask: Tensor) -> Tensor:
        slot = self.position >= 0
        where = self.position.clamp(min=0)
        copies = inputs.shape[0]
        cut = inputs[:, where]
        attention = attention_mask.expand(copies, -1)[:, where] * slot
        if inputs.is_floating_point():
            cut = cut * slot.unsqueeze(-1).to(cut)
            key = "inputs_embeds"
        else:
            cut = torch.where(slot, cut, self.pad_token_id)
            key = "input_ids"
        cut = cut.flatten(0, 1)
        attention = attention.flatten(0, 1)
        log_probs: List[Tensor] = []
        for start in range(0, cut.shape[0], self.windows_per_pass):
            part = slice(start, start + self.windows_per_pass)
            logits = self.model(
                **{key: cut[part], "attention_mask": attention[part]}
            ).logits
            log_probs.append(torch.log_softmax(logits, dim=-1))
        per_window = torch.cat(log_probs).view(copies, self.windows, -1)
        return per_window.logsumexp(dim=1) - torch.log(
            torch.tensor(float(self.windows))
        )
