"""Input marginalization on a causal LM, whose candidates are the model's own
predictions (CausalLMCandidates), through CausalLMAttribution."""

import pytest
import torch
from captum.attr import FeatureAblation, LayerIntegratedGradients, TextTemplateInput

from captum_nlp_ext._utils.units import build_units
from captum_nlp_ext.attr import (
    CausalLMAttribution,
    CausalLMCandidates,
    LayerInputMarginalization,
)
from captum_nlp_ext.attr._utils.llm_candidates import predicted_tokens
from captum_nlp_ext.attr._utils.llm_prefix import PrefixCache
from captum_nlp_ext.attr._utils.marginalization import (
    CandidateSelection,
    MaskedUnits,
    propose,
    TokenIds,
)
from captum_nlp_ext.testing import key_first_rate, tiny_causal_lm, word_prompt


def marginalization(model, tokenizer, **options):
    return LayerInputMarginalization(
        model,
        model.get_input_embeddings(),
        CausalLMCandidates(model, **options),
        tokenizer=tokenizer,
    )


def test_candidates_are_the_next_token_predictions(language_model, tokenizer):
    ids = tokenizer("w1 key2 w3 w4", return_tensors="pt")["input_ids"]
    candidates = CausalLMCandidates(language_model)
    with torch.no_grad():
        logits = language_model(input_ids=ids).logits
        shifted = candidates(ids, torch.ones_like(ids))
        assert torch.allclose(shifted[:, 1:], logits[:, :-1], atol=1e-5)
        # Nothing precedes the first token: no prediction, a uniform row.
        assert not shifted[:, 0].any()
        # After a cached prefix, the first row position is predicted from it.
        after = candidates.after(PrefixCache(language_model, ids[:, :2]))
        rest = after(ids[:, 2:], torch.ones_like(ids[:, 2:]))
    assert torch.allclose(rest, logits[:, 1:-1], atol=1e-4)
    # The model's own config is untouched.
    assert getattr(language_model.config, "mask_token_id", None) is None


def test_both_sides_weigh_candidates_by_the_posterior(language_model, tokenizer):
    """With every token kept, a unit's candidate weights are p(v | rest of the
    prompt) by brute force: the probability of the prompt with v there."""
    ids = tokenizer("w1 w2 key2 w3 w4", return_tensors="pt")["input_ids"]
    position = 2
    specials = tokenizer.all_special_ids
    mask = torch.full_like(ids, -1)
    mask[0, position] = 0
    masked = MaskedUnits(ids, build_units(mask, 1, ids.shape[1], ids.device))
    found = propose(
        CausalLMCandidates(language_model, both_sides=True),
        ids,
        masked,
        CandidateSelection(0.0, None, None, True, 1),
        TokenIds(0, tokenizer.pad_token_id, specials, len(tokenizer)),
        8,
        False,
    )
    words = [v for v in range(len(tokenizer)) if v not in specials]
    rows = ids.repeat(len(words), 1)
    rows[:, position] = torch.tensor(words)
    with torch.no_grad():
        log_probs = language_model(input_ids=rows).logits.log_softmax(-1)
    sentence = log_probs[:, :-1].gather(2, rows[:, 1:, None]).squeeze(-1).sum(1)
    expected = dict(zip(words, sentence.double().softmax(0).tolist()))
    got = dict(zip(found.tokens[:, 0].tolist(), found.weight.tolist()))
    assert set(got) == set(words)
    for token, weight in got.items():
        assert weight == pytest.approx(expected[token], abs=1e-5)


def test_predicted_baseline_is_the_most_likely_other_token(language_model, tokenizer):
    """Given every candidate, each feature token becomes the token (not
    itself, not special) that makes the prompt most likely."""
    ids = tokenizer("w1 w2 key2 w3 w4", return_tensors="pt")["input_ids"]
    specials = tokenizer.all_special_ids
    vocab = len(tokenizer)
    got = predicted_tokens(
        CausalLMCandidates(language_model, both_sides=True),
        ids,
        torch.tensor([[-1, 0, 1, 2, 3, 4]]),
        TokenIds(0, tokenizer.pad_token_id, specials, vocab),
        top_k=vocab,
    )
    assert got[0, 0] == ids[0, 0]
    for position in range(1, ids.shape[1]):
        words = [v for v in range(vocab) if v not in specials and v != ids[0, position]]
        rows = ids.repeat(len(words), 1)
        rows[:, position] = torch.tensor(words)
        with torch.no_grad():
            log_probs = language_model(input_ids=rows).logits.log_softmax(-1)
        sentence = log_probs[:, :-1].gather(2, rows[:, 1:, None]).squeeze(-1).sum(1)
        assert int(got[0, position]) == words[int(sentence.argmax())]


def test_predicted_baselines_keep_a_language_model_in_distribution(
    language_model, task, tokenizer
):
    """A language model never saw the padding token inside a prompt: read as a
    removed word's reference, it moves the answer wherever it stands. The
    model's own prediction there is a word it expects."""
    explainer = CausalLMAttribution(
        LayerIntegratedGradients(language_model, language_model.get_input_embeddings()),
        tokenizer,
    )
    predicted = key_first_rate(explainer, task[1], baselines="predicted")
    assert predicted >= 0.9 > key_first_rate(explainer, task[1])


@pytest.mark.parametrize("both_sides", [True, False])
def test_input_marginalization_finds_the_key(
    language_model, task, tokenizer, both_sides
):
    explainer = CausalLMAttribution(
        marginalization(language_model, tokenizer, both_sides=both_sides), tokenizer
    )
    assert key_first_rate(explainer, task[1]) >= 0.9


def test_prefix_cache_gives_the_same_marginalization(language_model, tokenizer):
    """The candidates' left context includes the cached fixed text."""
    inp = TextTemplateInput("w1 w2 w3 {} {} {}", ["w5", "key2", "w6"])
    im = marginalization(language_model, tokenizer)
    results = [
        CausalLMAttribution(im, tokenizer, reuse_prefix=reuse).attribute(
            inp, target=" answer2", top_k=6
        )
        for reuse in (True, False)
    ]
    assert torch.allclose(results[0].seq_attr, results[1].seq_attr, atol=1e-6)
    assert int(results[0].seq_attr.argmax()) == 1


def test_bad_arguments_are_named(language_model, tokenizer):
    with pytest.raises(TypeError, match="`model`"):
        CausalLMCandidates(lambda ids: ids)
    with pytest.raises(TypeError, match="both_sides"):
        CausalLMCandidates(language_model, both_sides="yes")
    lig = CausalLMAttribution(
        LayerIntegratedGradients(language_model, language_model.get_input_embeddings()),
        tokenizer,
    )
    with pytest.raises(ValueError, match="baselines"):
        lig.attribute(word_prompt("w1 key0"), target=" answer0", baselines="expected")
    ablation = CausalLMAttribution(FeatureAblation(language_model), tokenizer)
    with pytest.raises(ValueError, match="baselines"):
        ablation.attribute(
            word_prompt("w1 key0"), target=" answer0", baselines="predicted"
        )
    other = tiny_causal_lm("gpt2", len(tokenizer), seed=1)
    for mlm in (CausalLMCandidates(other), other):
        im = LayerInputMarginalization(
            language_model,
            language_model.get_input_embeddings(),
            mlm,
            tokenizer=tokenizer,
            mask_token_id=0,
        )
        with pytest.raises(TypeError, match="CausalLMCandidates"):
            CausalLMAttribution(im, tokenizer)
