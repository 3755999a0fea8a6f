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
