"""Tiny tokenizer, classifier, MLM and data set for the benchmark tests."""

from typing import List

import pytest
import torch

from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.testing import tiny_bert_classifier

SPECIALS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]
WORDS = [
    "a", "the", "film", "movie", "plot", "good", "great", "fine", "bad", "dull",
    "awful", "is", "was", "very", "not", "and", "story", "acting", "fun", "long",
]  # fmt: skip
PIECES = ["##s", "##ly"]


def make_tokenizer():
    """A WordPiece BERT tokenizer over the toy vocabulary ([PAD] 0 ... [MASK] 4)."""
    from transformers import BertTokenizerFast

    tokens = SPECIALS + WORDS + PIECES
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)})


def make_examples(n: int, seed: int = 0) -> List[TextExample]:
    """Sentences of 3-9 words (some with a sub-word: "films", "badly"), label 1
    when they hold a positive word, with that word as the rationale."""
    generator = torch.Generator().manual_seed(seed)
    extended = WORDS + ["films", "badly"]
    examples = []
    for i in range(n):
        length = int(torch.randint(3, 10, (1,), generator=generator))
        picks = torch.randint(0, len(extended), (length,), generator=generator)
        words = [extended[j] for j in picks.tolist()]
        rationale = [int(w in ("good", "great", "fine", "fun")) for w in words]
        examples.append(
            TextExample(
                words=words,
                label=int(any(rationale)),
                example_id=f"toy-{i}",
                rationale=rationale,
            )
        )
    return examples


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer):
    return tiny_bert_classifier(len(tiny_tokenizer), seed=0)


@pytest.fixture(scope="session")
def tiny_mlm(tiny_tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    return BertForMaskedLM(config).eval()


@pytest.fixture(scope="session")
def toy_examples():
    return make_examples(10)
