import math
import warnings

import pytest
import torch
from torch import nn

from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer


class LinearInEmbeddings(nn.Module):
    """y = W (sum_t E[ids_t]) + b: token t's exact contribution to class c is
    W_c . e_t, which NLGP's "scale" coefficient must recover."""

    def __init__(self, vocab: int = 30, dim: int = 8, classes: int = 3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, ids, mask=None):
        e = self.embedding(ids)
        if mask is not None:
            e = e * mask.unsqueeze(-1)
        return self.head(e.sum(1))

    def contributions(self, ids, target):
        weights = self.head.weight[torch.as_tensor(target).expand(ids.shape[0])]
        return (self.embedding(ids) * weights.unsqueeze(1)).sum(-1)


@pytest.fixture
def linear():
    torch.manual_seed(0)
    model = LinearInEmbeddings()
    ids = torch.randint(0, 30, (3, 7))
    return model, ids


@pytest.mark.parametrize("perturbation", ["scale", "reference"])
@pytest.mark.parametrize("p_perturb", [1.0, 0.5])
def test_linear_model_recovers_analytic_contributions(linear, perturbation, p_perturb):
    model, ids = linear
    target = torch.tensor([0, 2, 1])
    nlgp = LayerNLGP(
        model, model.embedding, perturbation=perturbation, p_perturb=p_perturb, ridge=0
    )
    attributions = nlgp.attribute(ids, target=target, n_samples=64, seed=0)
    expected = model.contributions(ids, target).detach()
    torch.testing.assert_close(attributions, expected, atol=1e-4, rtol=1e-4)


def test_isotropic_reading_is_unbiased_and_converges(linear):
    model, ids = linear
    expected = model.contributions(ids, 1).detach()
    errors = []
    for n in (64, 4096):
        nlgp = LayerNLGP(model, model.embedding, perturbation="isotropic")
        attributions = nlgp.attribute(
            ids,
            target=1,
            n_samples=n,
            seed=0,
            internal_batch_size=4096,
        )
        errors.append((attributions - expected).abs().mean().item())
    assert errors[1] < errors[0] / 3
    assert errors[1] < 0.15 * expected.abs().mean().item()


def test_word_units_share_the_sum_of_their_tokens(linear):
    model, ids = linear
    mask = torch.tensor([[0, 0, 1, 2, 2, 2, -1]]).expand(3, -1)
    attributions = LayerNLGP(model, model.embedding, ridge=0.0).attribute(
        ids, target=0, feature_mask=mask, n_samples=32, seed=0
    )
    contributions = model.contributions(ids, 0).detach()
    word_sums = torch.stack(
        [
            contributions[:, :2].sum(1),
            contributions[:, 2],
            contributions[:, 3:6].sum(1),
        ],
        dim=1,
    )
    expected = torch.cat([word_sums[:, [0, 0, 1, 2, 2, 2]], torch.zeros(3, 1)], dim=1)
    torch.testing.assert_close(attributions, expected, atol=1e-4, rtol=1e-4)


def test_reference_token_reading_moves_toward_that_token(linear):
    model, ids = linear
    reference_id = 5
    nlgp = LayerNLGP(model, model.embedding, perturbation="reference", ridge=0.0)
    attributions = nlgp.attribute(
        ids, target=2, baselines=reference_id, n_samples=32, seed=0
    )
    # Linear model: the drop when a token becomes the reference token.
    reference = model.embedding.weight[reference_id]
    expected = (
        ((model.embedding(ids) - reference) * model.head.weight[2]).sum(-1).detach()
    )
    torch.testing.assert_close(attributions, expected, atol=1e-4, rtol=1e-4)


def test_kernel_weights_keep_an_exact_linear_fit(linear):
    model, ids = linear
    nlgp = LayerNLGP(model, model.embedding, kernel_width=0.5, ridge=0.0)
    attributions = nlgp.attribute(ids, target=0, n_samples=64, seed=0)
    torch.testing.assert_close(
        attributions, model.contributions(ids, 0).detach(), atol=1e-4, rtol=1e-4
    )


def test_padding_gets_zero_and_batch_equals_single(keyword_task):
    model, test = keyword_task
    forward = ClassifierForward(model)
    nlgp = LayerNLGP(forward, get_embedding_layer(model))
    ids, mask, units = (
        test.input_ids[:5],
        test.attention_mask[:5],
        test.feature_mask[:5],
    )
    assert (units < 0).sum(
        1
    ).unique().numel() > 1, "needs examples of different lengths"
    batched = nlgp.attribute(
        ids,
        additional_forward_args=(mask,),
        feature_mask=units,
        n_samples=40,
        seed=3,
        internal_batch_size=33,
    )
    assert batched.shape == ids.shape
    assert (batched[units < 0] == 0).all()
    assert (batched[units >= 0] != 0).all()
    for i in range(5):
        single = nlgp.attribute(
            ids[i : i + 1],
            additional_forward_args=(mask[i : i + 1],),
            feature_mask=units[i : i + 1],
            n_samples=40,
            seed=3,
        )
        torch.testing.assert_close(single, batched[i : i + 1], atol=1e-5, rtol=1e-4)


def test_seed_makes_results_reproducible_and_differs_across_seeds(keyword_task):
    model, test = keyword_task
    nlgp = LayerNLGP(ClassifierForward(model), get_embedding_layer(model))
    kwargs = dict(
        additional_forward_args=(test.attention_mask[:2],),
        feature_mask=test.feature_mask[:2],
        n_samples=16,
    )
    a = nlgp.attribute(test.input_ids[:2], seed=1, **kwargs)
    b = nlgp.attribute(test.input_ids[:2], seed=1, **kwargs)
    c = nlgp.attribute(test.input_ids[:2], seed=2, **kwargs)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_planted_keyword_ranked_first(keyword_task):
    model, test = keyword_task
    nlgp = LayerNLGP(ClassifierForward(model), get_embedding_layer(model))
    attributions = nlgp.attribute(
        test.input_ids,
        target=test.labels,
        additional_forward_args=(test.attention_mask,),
        feature_mask=test.feature_mask,
        seed=0,
    )
    assert test.evidence_ranked_first(attributions) >= 0.9


def test_convergence_delta_shrinks_with_more_samples(keyword_task):
    model, test = keyword_task
    nlgp = LayerNLGP(ClassifierForward(model), get_embedding_layer(model))
    assert nlgp.has_convergence_delta()
    deltas = []
    for n in (16, 512):
        _, delta = nlgp.attribute(
            test.input_ids[:8],
            additional_forward_args=(test.attention_mask[:8],),
            feature_mask=test.feature_mask[:8],
            n_samples=n,
            seed=0,
            return_convergence_delta=True,
            internal_batch_size=256,
        )
        assert delta.shape == (8,)
        assert ((delta >= 0) & (delta <= 1)).all()
        deltas.append(delta.mean().item())
    assert deltas[1] < deltas[0] / 2


def test_uses_forward_passes_only(linear):
    model, ids = linear
    grad_modes = []

    def forward(inputs):
        grad_modes.append(torch.is_grad_enabled())
        return model(inputs)

    LayerNLGP(forward, model.embedding).attribute(ids, n_samples=8, seed=0)
    assert grad_modes and not any(grad_modes)
    assert all(p.grad is None for p in model.parameters())


def test_tuple_inputs_give_tuple_attributions(linear):
    model, ids = linear
    nlgp = LayerNLGP(model, model.embedding)
    out = nlgp.attribute((ids,), n_samples=8, seed=0)
    assert isinstance(out, tuple) and len(out) == 1
    assert torch.equal(out[0], nlgp.attribute(ids, n_samples=8, seed=0))


def test_state_restored_after_success_and_error(linear):
    model, ids = linear
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    calls = []

    def failing_forward(inputs):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("boom")
        return model(inputs)

    with pytest.raises(RuntimeError, match="boom"):
        LayerNLGP(failing_forward, model.embedding).attribute(ids, n_samples=8)
    LayerNLGP(model, model.embedding).attribute(ids, n_samples=8)
    assert not model.embedding._forward_hooks
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == flags


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(inputs=torch.zeros(0, 7, dtype=torch.long)), ValueError, "empty batch"),
        (dict(target=3), ValueError, "`target` .* out of range"),
        (dict(target=[0, 1]), ValueError, "`target` has 2 entries"),
        (
            dict(feature_mask=torch.zeros(3, 6, dtype=torch.long)),
            ValueError,
            "`feature_mask` must have shape",
        ),
        (dict(feature_mask=torch.zeros(3, 7)), TypeError, "`feature_mask` must hold"),
        (
            dict(feature_mask=torch.full((3, 7), -1)),
            ValueError,
            "without any unit",
        ),
        (dict(n_samples=1), ValueError, "`n_samples` must be >= 2"),
        (dict(inputs=torch.zeros(3, 7)), TypeError, "integer token ids"),
        (dict(stdevs=0.0), ValueError, "`stdevs`"),
        (dict(internal_batch_size=0), ValueError, "`internal_batch_size`"),
        (dict(samples_per_unit=0), ValueError, "`samples_per_unit`"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(linear, kwargs, error, message):
    model, ids = linear
    arguments = dict(inputs=ids, n_samples=8)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        LayerNLGP(model, model.embedding).attribute(**arguments)
    assert not model.embedding._forward_hooks


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(perturbation="linear"), ValueError, "`perturbation` must be one of"),
        (dict(p_perturb=1.5), ValueError, "`p_perturb`"),
        (dict(ridge=-1.0), ValueError, "`ridge`"),
        (dict(kernel_width=0.0), ValueError, "`kernel_width`"),
    ],
)
def test_bad_reading_is_refused_at_construction(linear, kwargs, error, message):
    model, _ = linear
    with pytest.raises(error, match=message):
        LayerNLGP(model, model.embedding, **kwargs)


def test_baselines_need_the_reference_reading(linear):
    model, ids = linear
    nlgp = LayerNLGP(model, model.embedding, perturbation="scale")
    with pytest.raises(ValueError, match="`baselines` is used by"):
        nlgp.attribute(ids, n_samples=8, baselines=3)
    assert not model.embedding._forward_hooks


def test_reading_moved_to_the_constructor_still_works_per_call(linear):
    model, ids = linear
    kwargs = dict(target=0, n_samples=16, seed=0)
    reading = dict(perturbation="scale", p_perturb=0.5, ridge=0.1, kernel_width=2.0)
    expected = LayerNLGP(model, model.embedding, **reading).attribute(ids, **kwargs)
    nlgp = LayerNLGP(model, model.embedding)
    with pytest.warns(FutureWarning, match="pass it to LayerNLGP"):
        got = nlgp.attribute(ids, **reading, **kwargs)
    torch.testing.assert_close(got, expected)
    assert nlgp.perturbation == "reference" and nlgp.ridge == 1e-3  # that call only
    # At their old positions too: n_samples, stdevs, perturbation, p_perturb.
    with pytest.warns(FutureWarning) as record:
        positional = nlgp.attribute(ids, 0, None, None, 16, 0.5, "scale", 0.5, seed=0)
    messages = " ".join(str(warning.message) for warning in record)
    assert "by position" in messages and "pass it to LayerNLGP" in messages
    by_name = LayerNLGP(model, model.embedding, perturbation="scale", p_perturb=0.5)
    torch.testing.assert_close(
        positional, by_name.attribute(ids, target=0, n_samples=16, seed=0)
    )
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="`ridge`"):
        nlgp.attribute(ids, ridge=-1.0, **kwargs)
    assert nlgp.ridge == 1e-3


def test_layer_outside_the_model_is_refused(linear):
    model, ids = linear
    stray = nn.Embedding(30, 8)
    with pytest.raises(ValueError, match="`layer` .* was not called"):
        LayerNLGP(model, stray).attribute(ids, n_samples=8)
    assert not stray._forward_hooks


@pytest.mark.parametrize("perturbation", ["scale", "isotropic"])
def test_one_seed_per_example(linear, perturbation):
    model, ids = linear
    nlgp = LayerNLGP(model, model.embedding, perturbation=perturbation)
    kwargs = dict(target=0, n_samples=16)
    batch = nlgp.attribute(ids, seed=[5, 6, 7], **kwargs)
    # Each example's draws are its own seed's, alone or in the batch.
    alone = nlgp.attribute(ids[1:2], seed=[6], **kwargs)
    torch.testing.assert_close(batch[1:2], alone)
    assert torch.equal(nlgp.attribute(ids[1:2], seed=6, **kwargs), alone)
    # The same text under two seeds draws two designs.
    twice = nlgp.attribute(ids[:1].repeat(2, 1), seed=[5, 9], **kwargs)
    assert not torch.allclose(twice[0], twice[1])
    for seed, error, message in [
        ([1, 2], ValueError, "2 seeds for 3 examples"),
        ([1, -2, 3], ValueError, "`seed` must be >= 0"),
        ("12", TypeError, "`seed` must be None, an int"),
        (torch.tensor([0.5, 1.0, 2.0]), TypeError, "1-D integers"),
    ]:
        with pytest.raises(error, match=message):
            nlgp.attribute(ids, seed=seed, **kwargs)


@pytest.mark.parametrize("perturbation", ["scale", "isotropic"])
def test_a_budget_that_fits_each_text(keyword_task, perturbation):
    from captum_nlp_ext.attr._utils.nlgp import sample_counts
    from captum_nlp_ext.metrics import CostMeter

    model, test = keyword_task
    nlgp = LayerNLGP(
        ClassifierForward(model), get_embedding_layer(model), perturbation=perturbation
    )
    ids, mask, units = (
        test.input_ids[:5],
        test.attention_mask[:5],
        test.feature_mask[:5],
    )
    words = [len(set(row[row >= 0].tolist())) for row in units]
    assert len(set(words)) > 1, "needs examples of different lengths"
    kwargs = dict(
        additional_forward_args=(mask,),
        feature_mask=units,
        n_samples=16,
        samples_per_unit=4.5,
        seed=3,
    )
    counts = [max(16, math.ceil(4.5 * w)) for w in words]
    assert sample_counts(torch.tensor(words), 16, 4.5) == counts
    with CostMeter(model) as meter:
        batched = nlgp.attribute(ids, **kwargs)
    assert meter.cost.forward_rows == sum(counts) + len(ids)  # + the unperturbed
    for i in range(5):
        one = dict(kwargs, additional_forward_args=(mask[i : i + 1],))
        one["feature_mask"] = units[i : i + 1]
        alone = nlgp.attribute(ids[i : i + 1], **one)
        torch.testing.assert_close(alone, batched[i : i + 1], atol=1e-5, rtol=1e-4)
    # a rule that asks for fewer than n_samples leaves n_samples
    fixed = dict(kwargs, samples_per_unit=None)
    least = dict(kwargs, samples_per_unit=0.1)
    assert torch.equal(nlgp.attribute(ids, **least), nlgp.attribute(ids, **fixed))


class AdditiveNonlinear(nn.Module):
    """y = sum_t s_t + cos(3 s_t), s_t = w . e_t: each token's curve is its
    own, so a linear fit's residual, and its noise, grows with the tokens."""

    def __init__(self, vocab: int = 30, dim: int = 8) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.w = nn.Parameter(torch.randn(dim) / dim**0.5)

    def forward(self, ids):
        s = self.embedding(ids) @ self.w
        return (s + torch.cos(3 * s)).sum(1)


def test_samples_per_unit_keeps_a_long_text_as_converged_as_a_short_one():
    torch.manual_seed(1)
    model = AdditiveNonlinear()
    short, long = torch.randint(0, 30, (1, 6)), torch.randint(0, 30, (1, 60))
    nlgp = LayerNLGP(model, model.embedding)

    def delta(ids, **kwargs):
        _, value = nlgp.attribute(ids, seed=0, return_convergence_delta=True, **kwargs)
        return float(value)

    # 64 samples that fit 6 units are noise for 60; 8 a unit are not
    assert delta(long, n_samples=64) > 2 * delta(short, n_samples=64)
    assert delta(long, n_samples=64, samples_per_unit=8) < 0.6 * delta(
        long, n_samples=64
    )


def test_default_reference_is_the_padding_token(keyword_task):
    model, test = keyword_task
    layer = get_embedding_layer(model)
    kwargs = dict(
        additional_forward_args=(test.attention_mask[:4],),
        feature_mask=test.feature_mask[:4],
        n_samples=32,
        seed=5,
    )
    ids = test.input_ids[:4]
    pad = model.config.pad_token_id
    default = LayerNLGP(ClassifierForward(model), layer).attribute(ids, **kwargs)
    explicit = LayerNLGP(
        ClassifierForward(model), layer, perturbation="reference"
    ).attribute(ids, baselines=pad, **kwargs)
    torch.testing.assert_close(default, explicit)
    # pad_token_id overrides the config's
    other = LayerNLGP(ClassifierForward(model), layer, pad_token_id=pad + 1)
    torch.testing.assert_close(
        other.attribute(ids, **kwargs),
        LayerNLGP(ClassifierForward(model), layer).attribute(
            ids, baselines=pad + 1, **kwargs
        ),
    )
    with pytest.raises(ValueError, match="`pad_token_id`"):
        LayerNLGP(ClassifierForward(model), layer, pad_token_id=-1)


def test_without_a_padding_token_the_reference_is_zero_and_said(linear):
    model, ids = linear
    nlgp = LayerNLGP(model, model.embedding)
    with pytest.warns(UserWarning, match="zero vector"):
        zero = nlgp.attribute(ids, n_samples=16, seed=1)
    with torch.no_grad():
        embeddings = model.embedding(ids)
    torch.testing.assert_close(
        zero,
        nlgp.attribute(
            ids, n_samples=16, seed=1, baselines=torch.zeros_like(embeddings)
        ),
    )


def test_fewer_samples_than_units_is_warned(linear):
    model, ids = linear
    nlgp = LayerNLGP(model, model.embedding)
    reference = dict(baselines=torch.zeros(1, 7, 8))
    with pytest.warns(UserWarning, match="fewer samples than units"):
        nlgp.attribute(ids, n_samples=4, seed=0, **reference)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nlgp.attribute(ids, n_samples=4, samples_per_unit=2, seed=0, **reference)
