"""Shared fixtures: tiny models trained in seconds on tasks with known answers."""

import logging
from pathlib import Path
from typing import Iterator, List

import pytest
import torch
from benchmark_toys import make_examples, make_tokenizer

from captum_nlp_ext.datasets import resolve_data_dir, resolve_models_dir
from captum_nlp_ext.testing import (
    planted_keyword_task,
    tiny_bert_classifier,
    train_classifier,
)


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _cache_outside_home(tmp_path_factory):
    """What ``explain`` caches goes to a folder of the session, not the home."""
    import os

    folder = tmp_path_factory.mktemp("captum-nlp-cache")
    before = os.environ.get("CAPTUM_NLP_CACHE")
    os.environ["CAPTUM_NLP_CACHE"] = str(folder)
    yield folder
    if before is None:
        del os.environ["CAPTUM_NLP_CACHE"]
    else:
        os.environ["CAPTUM_NLP_CACHE"] = before


@pytest.fixture(scope="session")
def keyword_task():
    """(model, test split) of the planted-keyword task; the model is trained to
    100% training accuracy but not saturated (see train_classifier)."""
    task = planted_keyword_task(n=600, seed=0)
    train, test = task.split(500)
    model = tiny_bert_classifier(task.vocab_size, seed=0)
    accuracy = train_classifier(model, train, steps=120)
    assert accuracy >= 0.99
    return model, test


@pytest.fixture(scope="session")
def models_dir() -> Path:
    path = resolve_models_dir()
    if not (path / "minilm-sst2" / "config.json").is_file():
        pytest.skip(f"shared models not found at {path} (set CAPTUM_NLP_MODELS)")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = resolve_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (set CAPTUM_NLP_DATA)")
    return path


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def transformers_messages() -> Iterator[List[str]]:
    """What transformers logs during the test: its logger does not propagate
    to the root logger, so caplog cannot see it."""
    handler = _Messages()
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


# The toy vocabulary's tiny models and files (benchmark_toys), shared by the
# tests of the engine, the benchmark, corpus runs and the command line.
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


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_model, tiny_tokenizer):
    """The tiny classifier saved as a model folder (what torchrun ranks load)."""
    folder = tmp_path_factory.mktemp("tiny-model") / "tiny-classifier"
    tiny_model.save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def toy_jsonl(tmp_path_factory):
    """40 toy sentences as a JSONL file with ids, labels and rationales."""
    import json

    path = tmp_path_factory.mktemp("corpus") / "toy.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for e in make_examples(40, seed=3):
            row = {"id": e.example_id, "text": e.text, "label": e.label}
            handle.write(json.dumps({**row, "rationale": list(e.rationale)}) + "\n")
    return path
