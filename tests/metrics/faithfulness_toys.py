"""A bag-of-words classifier whose probabilities are known by hand.

Vocabulary: 0 [PAD], 1 [CLS], 2 [SEP], 3 [UNK], 4 [MASK], then words 5..9.
The logit of class 1 is the sum of the attended tokens' weights (class 0's
logit is 0), so p(class 1) = sigmoid(sum of weights).
"""

import math
from typing import Optional

import torch
from torch import nn, Tensor

PAD, CLS, SEP, UNK, MASK = 0, 1, 2, 3, 4
WEIGHTS = {PAD: 0.1, CLS: 0.0, SEP: 0.0, UNK: -0.25, MASK: 0.25}
WEIGHTS.update({5: 2.0, 6: 1.0, 7: -0.5, 8: 0.0, 9: -3.0})


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class BagOfWords(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        table = torch.zeros(len(WEIGHTS), 2)
        for token, weight in WEIGHTS.items():
            table[token, 1] = weight
        self.embedding = nn.Embedding.from_pretrained(table)

    def forward(self, ids: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
        vectors = self.embedding(ids)
        if attention_mask is not None:
            vectors = vectors * attention_mask.unsqueeze(-1).to(vectors.dtype)
        return vectors.sum(dim=1)


def sentence(*words: int, length: int = 6):
    """[CLS] words [SEP] [PAD]...: (ids, attention mask, feature mask), each (1,
    length); every word is its own unit."""
    ids = [CLS, *words, SEP] + [PAD] * (length - len(words) - 2)
    attention = [1] * (len(words) + 2) + [0] * (length - len(words) - 2)
    mask = [-1, *range(len(words)), -1] + [-1] * (length - len(words) - 2)
    return (
        torch.tensor([ids]),
        torch.tensor([attention]),
        torch.tensor([mask]),
    )


def batch(*sentences):
    """Concatenate ``sentence`` triples into one batch."""
    return tuple(torch.cat(parts) for parts in zip(*sentences))
