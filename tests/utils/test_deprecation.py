"""Renamed arguments: the old name works for one release, warns, and gives the
same result as the new one; both at once is an error."""

import pytest
import torch

from captum_nlp_ext.attr import (
    EmbeddingNoiseTunnel,
    LayerLAFA,
    LayerMaskOptimization,
    LayerNLGP,
    ReferenceIndex,
)
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer


@pytest.fixture(scope="module")
def setup(keyword_task):
    model, test = keyword_task
    ids, mask = test.input_ids[:3], test.attention_mask[:3]
    return model, ids, mask, test.feature_mask[:3]


def _nlgp(model):
    return LayerNLGP(ClassifierForward(model), get_embedding_layer(model))


def _marc(model):
    return LayerMaskOptimization(
        ClassifierForward(model), get_embedding_layer(model, "full"), pad_token_id=0
    )


def _lafa(model, ids, mask):
    index = ReferenceIndex.build(
        model, [{"input_ids": ids, "attention_mask": mask}], special_token_ids=[0, 1, 2]
    )
    return LayerLAFA(ClassifierForward(model), get_embedding_layer(model), index)


@pytest.mark.parametrize(
    "make, old, new, value, extra",
    [
        ("nlgp", "sigma", "stdevs", 0.3, dict(n_samples=8, seed=0)),
        ("nlgp", "reference", "baselines", 0, dict(n_samples=8, seed=0)),
        ("marc", "noise_std", "stdevs", 0.01, dict(max_steps=3, seed=0)),
        ("marc", "reference", "baselines", 0, dict(max_steps=3, seed=0)),
        ("lafa", "noise_level", "stdevs", 0.05, dict(n_samples=2, seed=0)),
    ],
)
def test_old_names_warn_and_equal_the_new(setup, make, old, new, value, extra):
    model, ids, mask, units = setup
    method = {
        "nlgp": lambda: _nlgp(model),
        "marc": lambda: _marc(model),
        "lafa": lambda: _lafa(model, ids, mask),
    }[make]()
    common = dict(additional_forward_args=(mask,), feature_mask=units, **extra)
    expected = method.attribute(ids, **{new: value}, **common)
    with pytest.warns(FutureWarning, match=f"`{old}` is deprecated.*`{new}`"):
        got = method.attribute(ids, **{old: value}, **common)
    torch.testing.assert_close(got, expected)
    with pytest.raises(TypeError, match=f"pass `{new}` only"):
        method.attribute(ids, **{old: value, new: value}, **common)


def test_noise_tunnel_still_reaches_the_renamed_method(setup):
    model, ids, mask, units = setup
    tunnel = EmbeddingNoiseTunnel(_nlgp(model))
    smooth = tunnel.attribute(
        ids,
        nt_samples=2,
        stdevs=0.01,
        additional_forward_args=(mask,),
        feature_mask=units,
        n_samples=8,
        seed=0,
    )
    assert smooth.shape == ids.shape


def test_options_passed_by_position_still_work_with_a_warning():
    from captum_nlp_ext.metrics import auprc, dataset_consistency, token_f1

    scores = torch.tensor([[0.9, 0.1, 0.5, 0.2]])
    rationale = torch.tensor([[1, 0, 1, 0]])
    words = torch.tensor([[0, 1, 2, -1]])
    expected = token_f1(scores, rationale, feature_mask=words, k=1)
    with pytest.warns(FutureWarning, match="`feature_mask`, `k` by position"):
        old = token_f1(scores, rationale, words, 1)
    assert old.per_example.tolist() == expected.per_example.tolist()
    with pytest.raises(TypeError, match="`feature_mask` twice"):
        auprc(scores, rationale, words, feature_mask=words)
    with pytest.raises(TypeError, match="positional arguments"):
        dataset_consistency(*range(20))
