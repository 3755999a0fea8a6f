import pytest
import torch
from captum.metrics import infidelity, sensitivity_max
from torch import nn

from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.metrics import (
    bind_per_example,
    EmbeddingNoise,
    token_to_embedding_attributions,
    WordMasking,
)

MASK_ID = 0


class BagOfWords(nn.Module):
    """f(ids) = sum of per-token weights; the [MASK] id weighs 0, so removing a
    token changes f by exactly its weight."""

    def __init__(self, vocab: int = 20) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(vocab))
        with torch.no_grad():
            self.weight[MASK_ID] = 0

    def forward(self, ids):
        return self.weight[ids].sum(1, keepdim=True)


def test_word_masking_masks_whole_units_and_never_excluded_tokens():
    ids = torch.arange(1, 9).view(1, 8).repeat(4, 1)
    units = torch.tensor([[-1, 0, 0, 1, 2, 2, 2, -1]])
    masking = WordMasking(MASK_ID, units, rate=0.5)
    torch.manual_seed(0)
    weights, perturbed = masking.infidelity(ids.repeat_interleave(50, 0))
    masked = perturbed == MASK_ID
    assert not masked[:, [0, 7]].any()
    assert (masked[:, 1] == masked[:, 2]).all()
    assert (masked[:, 4] == masked[:, 5]).all() and (masked[:, 5] == masked[:, 6]).all()
    assert 0.3 < masked[:, 3].float().mean() < 0.7
    # Shared scores: a masked unit counts once, spread over its tokens.
    sizes = torch.tensor([1, 2, 2, 1, 3, 3, 3, 1]).float()
    torch.testing.assert_close(weights, masked.float() / sizes)
    plain = WordMasking(MASK_ID, units, shared_scores=False)._mask(ids, 1.0)[0]
    assert torch.equal(plain, (units >= 0).float().expand(4, -1))


def test_exact_attributions_have_zero_infidelity_under_masking():
    torch.manual_seed(0)
    model = BagOfWords()
    ids = torch.randint(1, 20, (3, 6))
    exact = model.weight[ids].detach()
    masking = WordMasking(MASK_ID, rate=0.3, shared_scores=False)
    score = infidelity(
        model, masking.infidelity, ids, exact, target=0, n_perturb_samples=16
    )
    assert score.abs().max() < 1e-10
    noisy = infidelity(
        model,
        masking.infidelity,
        ids,
        torch.randn_like(exact),
        target=0,
        n_perturb_samples=16,
    )
    assert (noisy > 1e-3).all()


def test_masking_with_captum_metrics_on_nlgp(keyword_task):
    model, test = keyword_task
    forward = ClassifierForward(model, output="probs")
    ids, mask, units, y = (
        test.input_ids[:4],
        test.attention_mask[:4],
        test.feature_mask[:4],
        test.labels[:4],
    )
    nlgp = LayerNLGP(forward, get_embedding_layer(model))
    attributions = nlgp.attribute(
        ids, target=y, additional_forward_args=(mask,), feature_mask=units, seed=0
    )
    masking = WordMasking(4, units, rate=0.3)
    torch.manual_seed(0)
    good = infidelity(
        forward,
        masking.infidelity,
        ids,
        attributions,
        additional_forward_args=(mask,),
        target=y,
        n_perturb_samples=16,
    )
    random = torch.randn_like(attributions) * (units >= 0)
    torch.manual_seed(0)
    bad = infidelity(
        forward,
        masking.infidelity,
        ids,
        random,
        additional_forward_args=(mask,),
        target=y,
        n_perturb_samples=16,
    )
    assert good.mean() < bad.mean()
    sensitivity = sensitivity_max(
        nlgp.attribute,
        ids,
        perturb_func=masking.sensitivity,
        perturb_radius=0.2,
        n_perturb_samples=2,
        target=y,
        additional_forward_args=(mask,),
        n_samples=16,
        seed=0,
    )
    assert sensitivity.shape == (4,) and torch.isfinite(sensitivity).all()


def test_embedding_noise_is_relative_and_respects_token_mask():
    torch.manual_seed(0)
    embeddings = torch.randn(2, 5, 64) * torch.tensor([1.0, 10.0, 1.0, 1.0, 1.0]).view(
        1, 5, 1
    )
    keep = torch.tensor([[1, 1, 1, 1, 0]])
    noise = EmbeddingNoise(stdevs=0.1, token_mask=keep)
    perturbation, perturbed = noise.infidelity(embeddings)
    torch.testing.assert_close(perturbed, embeddings - perturbation)
    ratio = perturbation.norm(dim=-1) / embeddings.norm(dim=-1)
    assert torch.allclose(ratio[:, :4], torch.full((2, 4), 0.1), atol=0.05)
    assert (perturbation[:, 4] == 0).all()
    moved = noise.sensitivity(embeddings, 0.5) - embeddings
    assert (
        moved[:, :4].norm(dim=-1).mean() > 4 * perturbation[:, :4].norm(dim=-1).mean()
    )


def test_embedding_noise_sign_convention_with_infidelity():
    torch.manual_seed(0)
    weight = torch.randn(8)

    def linear(embeddings):
        return (embeddings * weight).sum((1, 2)).unsqueeze(1)

    embeddings = torch.randn(2, 4, 8)
    exact = weight.expand_as(embeddings)
    score = infidelity(
        linear,
        EmbeddingNoise(0.1).infidelity,
        embeddings,
        exact,
        target=0,
        n_perturb_samples=8,
    )
    assert score.abs().max() < 1e-8


def test_token_scores_lifted_to_embeddings():
    embeddings = torch.randn(2, 3, 4)
    scores = torch.randn(2, 3)
    lifted = token_to_embedding_attributions(scores, embeddings)
    torch.testing.assert_close((lifted * 2.5 * embeddings).sum(-1), 2.5 * scores)
    with pytest.raises(ValueError, match="must match"):
        token_to_embedding_attributions(scores[:, :2], embeddings)


def test_perturbations_refuse_the_wrong_inputs():
    with pytest.raises(TypeError, match="WordMasking perturbs token ids"):
        WordMasking(0).infidelity(torch.randn(2, 3))
    with pytest.raises(TypeError, match="EmbeddingNoise perturbs embeddings"):
        EmbeddingNoise().infidelity(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="`rate`"):
        WordMasking(0, rate=2.0)
    with pytest.raises(ValueError, match="does not divide"):
        WordMasking(0, torch.zeros(3, 4, dtype=torch.long)).infidelity(
            torch.ones(4, 4, dtype=torch.long)
        )


def test_sensitivity_max_with_word_units_through_bind_per_example(keyword_task):
    # Captum repeats the inputs per perturbation but not a feature_mask
    # passed as a keyword: bound per example, it is repeated with them.
    model, test = keyword_task
    forward = ClassifierForward(model, output="probs")
    ids, mask, units = (
        test.input_ids[:3],
        test.attention_mask[:3],
        test.feature_mask[:3],
    )
    nlgp = LayerNLGP(forward, get_embedding_layer(model))
    masking = WordMasking(4, units)
    arguments = dict(
        perturb_func=masking.sensitivity,
        perturb_radius=0.2,
        n_perturb_samples=3,
        target=0,
        additional_forward_args=(mask,),
        n_samples=32,
        seed=0,
    )
    with pytest.raises(Exception):  # what a user hits without it
        sensitivity_max(nlgp.attribute, ids, feature_mask=units, **arguments)
    seen = []

    def attribute(inputs, **kwargs):
        seen.append(kwargs["feature_mask"])
        return nlgp.attribute(inputs, **kwargs)

    sensitivity = sensitivity_max(
        bind_per_example(attribute, feature_mask=units), ids, **arguments
    )
    assert sensitivity.shape == (3,) and torch.isfinite(sensitivity).all()
    # the unperturbed call sees the units as given, each perturbed call them
    # repeated as Captum repeats the examples
    assert torch.equal(seen[0], units)
    assert torch.equal(seen[1], units.repeat_interleave(3, 0))
    assert bool((sensitivity > 0).all())


def test_bind_per_example_refuses_what_is_not_a_row_tensor():
    with pytest.raises(TypeError, match="`feature_mask` must be a tensor"):
        bind_per_example(lambda x: x, feature_mask=[[0, 1]])
    with pytest.raises(TypeError, match="`explanation_func` must be callable"):
        bind_per_example(None, feature_mask=torch.zeros(1, 2))
