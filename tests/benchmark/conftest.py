"""Tiny tokenizer, classifier and MLM for the benchmark tests."""

import pytest
import torch
from benchmark_toys import make_examples, make_tokenizer

from captum_nlp_ext.testing import tiny_bert_classifier


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
