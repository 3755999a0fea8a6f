import math

import pytest
import torch
from faithfulness_toys import BagOfWords, batch, sentence, sigmoid

from captum_nlp_ext.metrics import soft_comprehensiveness, soft_sufficiency

MODEL = BagOfWords()
IDS, ATTENTION, WORDS = sentence(5, 6, 7)
P = sigmoid(2.5)
# normalized importance 1 for word 5 and 0 for the others: the masks are sure
ATTRIBUTIONS = torch.tensor([[0.0, 0.7, -0.2, -0.2, 0.0, 0.0]])


def run(metric, attributions=ATTRIBUTIONS, ids=IDS, attention=ATTENTION, **kwargs):
    kwargs.setdefault("feature_mask", WORDS)
    return metric(
        MODEL,
        MODEL.embedding,
        ids,
        attributions,
        additional_forward_args=attention,
        **kwargs,
    )


def test_soft_sufficiency_by_hand():
    # kept: word 5 (2.0); erasing every word leaves 0 -> sigmoid(0) = 0.5
    null = P - 0.5
    result = run(soft_sufficiency)
    assert result.mean == pytest.approx((null - (P - sigmoid(2.0))) / null, abs=1e-6)
    assert result.name == "soft_normalized_sufficiency"
    assert result.details["higher_is_better"] is True
    assert result.details["removal"] == "soft-embedding-dropout"
    raw = run(soft_sufficiency, normalized=False)
    assert raw.mean == pytest.approx(P - sigmoid(2.0), abs=1e-6)
    assert raw.details["higher_is_better"] is False


def test_soft_comprehensiveness_by_hand():
    # erased: word 5; kept: 6 and 7 (0.5)
    result = run(soft_comprehensiveness)
    assert result.mean == pytest.approx((P - sigmoid(0.5)) / (P - 0.5), abs=1e-6)
    raw = run(soft_comprehensiveness, normalized=False)
    assert raw.mean == pytest.approx(P - sigmoid(0.5), abs=1e-6)
    assert raw.name == "soft_comprehensiveness"


def test_undefined_when_erasing_everything_does_not_lower_the_target():
    ids, attention, words = sentence(9)
    result = run(
        soft_comprehensiveness,
        torch.tensor([[0, 1.0, 0, 0, 0, 0]]),
        ids,
        attention,
        feature_mask=words,
        target=1,
    )
    assert math.isnan(result.per_example[0].item()) and result.n == 0


def test_fractional_importance_keeps_elements_at_that_rate():
    # word 5 at 1, word 6 at 0.5, word 7 at 0: 6's two elements are random
    attributions = torch.tensor([[0, 1.0, 0.5, 0.0, 0, 0]])
    result = run(
        soft_sufficiency, attributions, normalized=False, n_samples=400, seed=0
    )
    # the class-1 element of 6 survives half the time: E p' = (s(2) + s(3)) / 2
    expected = P - (sigmoid(2.0) + sigmoid(3.0)) / 2
    assert result.mean == pytest.approx(expected, abs=0.01)


def test_seeded_masks_do_not_depend_on_the_batch():
    ids, attention, words = batch(sentence(5, 6, 7), sentence(9, 6), sentence(6, 8, 5))
    attributions = torch.rand(ids.shape, generator=torch.Generator().manual_seed(1))
    kwargs = dict(feature_mask=words, n_samples=3, seed=5, normalized=False)
    together = run(soft_comprehensiveness, attributions, ids, attention, **kwargs)
    again = run(soft_comprehensiveness, attributions, ids, attention, **kwargs)
    assert torch.equal(together.per_example, again.per_example)
    for i in range(3):
        alone = run(
            soft_comprehensiveness,
            attributions[i : i + 1],
            ids[i : i + 1],
            attention[i : i + 1],
            **{**kwargs, "feature_mask": words[i : i + 1]},
        )
        assert alone.per_example[0].item() == pytest.approx(
            together.per_example[i].item(), abs=1e-6
        )


def test_bad_arguments():
    with pytest.raises(ValueError, match="`n_samples`"):
        run(soft_sufficiency, n_samples=0)
    with pytest.raises(ValueError, match="`layer`"):
        soft_sufficiency(
            MODEL, torch.nn.Linear(2, 2), IDS, ATTRIBUTIONS, feature_mask=WORDS
        )


def test_normalized_values_are_clipped_to_the_unit_interval():
    # words 5, 5, 9 (2, 2, -3): p = sigmoid(1); erasing all: sigmoid(0)
    ids, attention, words = sentence(5, 5, 9)
    null = sigmoid(1.0) - 0.5
    fives = torch.tensor([[0, 1.0, 1.0, 0.0, 0, 0]])
    # erasing both 5s drops p to sigmoid(-3): the raw ratio is about 2.96
    raw = (sigmoid(1.0) - sigmoid(-3.0)) / null
    assert raw > 1
    nc = run(soft_comprehensiveness, fives, ids, attention, feature_mask=words)
    assert nc.mean == pytest.approx(1.0)
    # keeping only 9 drops p to sigmoid(-3): the raw ratio is about -1.96
    nine = torch.tensor([[0, 0.0, 0.0, 1.0, 0, 0]])
    ns = run(soft_sufficiency, nine, ids, attention, feature_mask=words)
    assert ns.mean == pytest.approx(0.0)
    assert run(
        soft_sufficiency, nine, ids, attention, feature_mask=words, normalized=False
    ).mean == pytest.approx(sigmoid(1.0) - sigmoid(-3.0), abs=1e-6)
