"""A toy vocabulary, tokenizer and data set for the benchmark tests."""

import dataclasses
from typing import List

import torch

from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.engine.settings import DataSource, RunSettings

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


def split_settings(dataset, keywords):
    """Flat keywords of a test -> (DataSource, RunSettings, the entry point's
    own keywords), so that each test names only what it varies."""
    run_fields = {f.name for f in dataclasses.fields(RunSettings)}
    data_fields = {f.name for f in dataclasses.fields(DataSource)}
    run = {k: v for k, v in keywords.items() if k in run_fields}
    data = {k: v for k, v in keywords.items() if k in data_fields}
    rest = {k: v for k, v in keywords.items() if k not in run_fields | data_fields}
    if "methods" in run:
        run["methods"] = tuple(run["methods"])
    return DataSource(dataset, **data), RunSettings(**run), rest
