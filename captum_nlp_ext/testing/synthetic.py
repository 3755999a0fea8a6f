"""Synthetic text classification tasks whose explanation is known."""

from dataclasses import dataclass

import torch
from torch import Tensor

PAD, CLS, SEP, UNK, MASK = 0, 1, 2, 3, 4
N_SPECIAL = 5


@dataclass(frozen=True)
class SyntheticTask:
    """A batch of token-id sentences with labels and the positions that decide
    them.

    Attributes:
        input_ids (Tensor): (n, tokens) ids: [CLS] words [SEP] [PAD]...
        attention_mask (Tensor): (n, tokens), 0 on padding.
        labels (Tensor): (n,) classes.
        evidence (Tensor): (n, tokens) bool, True on the tokens that set the label.
        feature_mask (Tensor): (n, tokens) unit ids, -1 on [CLS], [SEP], padding.
        vocab_size (int): Size of the vocabulary, specials included.
    """

    input_ids: Tensor
    attention_mask: Tensor
    labels: Tensor
    evidence: Tensor
    feature_mask: Tensor
    vocab_size: int

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def split(self, n_first: int) -> "tuple[SyntheticTask, SyntheticTask]":
        """The first ``n_first`` examples and the rest."""
        fields = ("input_ids", "attention_mask", "labels", "evidence", "feature_mask")
        first = {k: getattr(self, k)[:n_first] for k in fields}
        rest = {k: getattr(self, k)[n_first:] for k in fields}
        return (
            SyntheticTask(vocab_size=self.vocab_size, **first),
            SyntheticTask(vocab_size=self.vocab_size, **rest),
        )


def planted_keyword_task(
    n: int = 512,
    n_fillers: int = 40,
    min_words: int = 5,
    max_words: int = 12,
    seed: int = 0,
) -> SyntheticTask:
    """Sentences of random filler words with one planted keyword that sets the
    label: keyword ``N_SPECIAL`` means class 0, ``N_SPECIAL + 1`` class 1.

    Args:
        n (int): Number of sentences. Default: 512
        n_fillers (int): Number of distinct filler words. Default: 40
        min_words (int): Fewest words a sentence. Default: 5
        max_words (int): Most words a sentence. Default: 12
        seed (int): Seed of the generator. Default: 0
    """
    generator = torch.Generator().manual_seed(seed)
    tokens = max_words + 2
    keywords = N_SPECIAL + torch.arange(2)
    first_filler = N_SPECIAL + 2
    lengths = torch.randint(min_words, max_words + 1, (n,), generator=generator)
    labels = torch.randint(0, 2, (n,), generator=generator)
    words = first_filler + torch.randint(
        0, n_fillers, (n, max_words), generator=generator
    )
    slot = (torch.rand(n, generator=generator) * lengths).long()
    words[torch.arange(n), slot] = keywords[labels]
    positions = torch.arange(max_words).unsqueeze(0)
    inside = positions < lengths.unsqueeze(1)
    input_ids = torch.full((n, tokens), PAD)
    input_ids[:, 0] = CLS
    input_ids[:, 1:-1] = torch.where(inside, words, PAD)
    input_ids[torch.arange(n), lengths + 1] = SEP
    attention_mask = (input_ids != PAD).long()
    evidence = torch.zeros(n, tokens, dtype=torch.bool)
    evidence[torch.arange(n), slot + 1] = True
    feature_mask = torch.full((n, tokens), -1)
    feature_mask[:, 1:-1] = torch.where(inside, positions.expand(n, -1), -1)
    return SyntheticTask(
        input_ids,
        attention_mask,
        labels,
        evidence,
        feature_mask,
        vocab_size=first_filler + n_fillers,
    )
