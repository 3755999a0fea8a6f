"""The planted next-token task of the causal-LM tests (the answer decided by
one prompt word), its word tokenizer and tiny models trained on it, shared by
the files here (each model is trained once per session)."""

import pytest

from captum_nlp_ext.testing import (
    planted_next_token_task,
    tiny_causal_lm,
    train_causal_lm,
    word_tokenizer,
)

#: Held-out prompts a test explains.
N_HELD_OUT = 30


@pytest.fixture(scope="session")
def task():
    """(500 training prompts, N_HELD_OUT held-out ones)."""
    return planted_next_token_task(n=500 + N_HELD_OUT, seed=0).split(500)


@pytest.fixture(scope="session")
def tokenizer(task):
    return word_tokenizer(task[0].words)


@pytest.fixture(scope="session")
def gpt2(task, tokenizer):
    """A GPT-2 trained on the answers (the loss on the last position)."""
    model = tiny_causal_lm("gpt2", len(tokenizer), seed=0)
    assert train_causal_lm(model, tokenizer, task[0], steps=200) == 1.0
    return model


@pytest.fixture(scope="session")
def language_model(task, tokenizer):
    """A GPT-2 trained on every token of its prompts, as language models are:
    its predictions inside a prompt are a distribution of prompt words."""
    model = tiny_causal_lm("gpt2", len(tokenizer), seed=0)
    assert train_causal_lm(model, tokenizer, task[0], steps=1500, every_token=True)
    return model
