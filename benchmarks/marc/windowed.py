"""What the ERASER scripts share: documents tokenized whole (they are classified
through :class:`captum_nlp_ext.huggingface.WindowedClassifier`)."""

from typing import Any, Optional, Tuple

import torch
from torch import Tensor

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
