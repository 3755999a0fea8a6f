import pytest
import torch
from captum.attr import (
    LayerGradientXActivation,
    LayerIntegratedGradients,
    NoiseTunnel,
    Saliency,
)

from captum_nlp_ext.attr import EmbeddingNoiseTunnel, LayerNLGP
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer


@pytest.fixture
def setup(keyword_task):
    model, test = keyword_task
    forward = ClassifierForward(model)
    ids, mask = test.input_ids[:3], test.attention_mask[:3]
    return model, forward, ids, mask, test.feature_mask[:3], test.labels[:3]


def nlgp_kwargs(method, units):
    if isinstance(method, LayerNLGP):
        return dict(feature_mask=units, n_samples=16, seed=0)
    return {}


def methods(forward, layer):
    return [
        LayerNLGP(forward, layer),
        LayerIntegratedGradients(forward, layer),
        LayerGradientXActivation(forward, layer),
    ]


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_noise_at_the_layer_keeps_ids_intact(setup, nt_type):
    model, forward, ids, mask, units, target = setup
    seen = []

    def spying_forward(inputs, attention_mask):
        seen.append(inputs.dtype)
        return forward(inputs, attention_mask)

    layer = get_embedding_layer(model)
    for method in methods(spying_forward, layer):
        plain = method.attribute(
            ids,
            target=target,
            additional_forward_args=(mask,),
            **nlgp_kwargs(method, units),
        )
        smooth = EmbeddingNoiseTunnel(method).attribute(
            ids,
            nt_type=nt_type,
            nt_samples=3,
            stdevs=0.1,
            target=target,
            additional_forward_args=(mask,),
            **nlgp_kwargs(method, units),
        )
        assert smooth.shape == plain.shape
        assert torch.isfinite(smooth).all()
        assert not torch.allclose(
            smooth, plain if nt_type == "smoothgrad" else plain**2
        )
    assert set(seen) == {torch.long}
    assert not layer._forward_hooks


def test_zero_noise_reproduces_the_method(setup):
    model, forward, ids, mask, units, target = setup
    for method in methods(forward, get_embedding_layer(model)):
        kwargs = dict(target=target, additional_forward_args=(mask,))
        kwargs.update(nlgp_kwargs(method, units))
        plain = method.attribute(ids, **kwargs)
        tunnel = EmbeddingNoiseTunnel(method)
        torch.testing.assert_close(
            tunnel.attribute(ids, nt_samples=2, stdevs=0.0, **kwargs), plain
        )
        variance = tunnel.attribute(
            ids, nt_type="vargrad", nt_samples=2, stdevs=0.0, **kwargs
        )
        assert variance.abs().max() < 1e-6


def test_captum_noise_tunnel_on_embedding_inputs(setup):
    """NoiseTunnel(LayerNLGP) works wherever NoiseTunnel(LayerIntegratedGradients)
    does: a model fed inputs_embeds."""
    model, forward, ids, mask, units, target = setup
    embeddings = get_embedding_layer(model)(ids).detach()
    block = get_embedding_layer(model, "full")
    for method in (LayerIntegratedGradients(forward, block), LayerNLGP(forward, block)):
        out = NoiseTunnel(method).attribute(
            embeddings,
            nt_samples=3,
            stdevs=0.01,
            target=target,
            additional_forward_args=(mask,),
            **nlgp_kwargs(method, units),
        )
        assert out.shape[:2] == ids.shape and torch.isfinite(out).all()


def test_non_layer_method_is_refused(setup):
    _, forward, *_ = setup
    with pytest.raises(TypeError, match="layer attribution method"):
        EmbeddingNoiseTunnel(Saliency(forward))


def test_stdevs_validated(setup):
    model, forward, ids, mask, units, target = setup
    tunnel = EmbeddingNoiseTunnel(
        LayerGradientXActivation(forward, model.bert.embeddings)
    )
    with pytest.raises(ValueError, match="`stdevs` must be >= 0"):
        tunnel.attribute(
            ids, stdevs=-1.0, target=target, additional_forward_args=(mask,)
        )
    with pytest.raises(ValueError, match="`stdevs` must be one float"):
        tunnel.attribute(
            ids, stdevs=(0.1, 0.2), target=target, additional_forward_args=(mask,)
        )
    assert not model.bert.embeddings._forward_hooks


def test_a_seed_reproduces_the_noise(setup):
    model, forward, ids, mask, units, target = setup
    tunnel = EmbeddingNoiseTunnel(
        LayerIntegratedGradients(forward, get_embedding_layer(model))
    )

    def smooth(seed):
        return tunnel.attribute(
            ids,
            nt_samples=4,
            stdevs=0.5,
            target=target,
            additional_forward_args=(mask,),
            n_steps=4,
            seed=seed,
        )

    first, again, other = smooth(3), smooth(3), smooth(4)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert (first - other).abs().max() > 1e-3
    # the global generator is left alone
    state = torch.random.get_rng_state()
    smooth(3)
    assert torch.equal(state, torch.random.get_rng_state())
    assert hasattr(EmbeddingNoiseTunnel.attribute, "__wrapped__")


@pytest.mark.parametrize("nt_samples", [0, -2])
def test_nt_samples_must_be_positive(setup, nt_samples):
    model, forward, ids, mask, units, target = setup
    tunnel = EmbeddingNoiseTunnel(
        LayerIntegratedGradients(forward, get_embedding_layer(model))
    )
    with pytest.raises(ValueError, match="`nt_samples` must be >= 1"):
        tunnel.attribute(ids, nt_samples=nt_samples, additional_forward_args=(mask,))
