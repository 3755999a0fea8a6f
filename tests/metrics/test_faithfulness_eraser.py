import math

import pytest
import torch
from faithfulness_toys import BagOfWords, batch, MASK, PAD, sentence, sigmoid, UNK

from captum_nlp_ext.metrics import (
    aopc_comprehensiveness,
    aopc_sufficiency,
    comprehensiveness,
    ERASER_PERCENTS,
    FERRET_PERCENTS,
    log_odds,
    Removal,
    sufficiency,
)
from captum_nlp_ext.metrics.faithfulness._erasure import words_for_percent

MODEL = BagOfWords()
# words 5, 6, 7 (weights 2, 1, -0.5): p(class 1) = sigmoid(2.5), predicted 1
IDS, ATTENTION, MASK_OF_WORDS = sentence(5, 6, 7)
ATTRIBUTIONS = torch.tensor([[0.0, 0.9, 0.5, 0.1, 0.0, 0.0]])
P = sigmoid(2.5)
REMOVALS = {
    # sum of the class-1 weights once word 5 (the top word) is removed
    "delete": (Removal(), 0.5),
    "mask": (Removal("mask", token_id=MASK), 0.5 + 0.25),
    "unk": (Removal("unk", token_id=UNK), 0.5 - 0.25),
    # [PAD] stays attended where it replaces a word, unlike deletion's padding
    "pad": (Removal("pad", token_id=PAD), 0.5 + 0.1),
}


def run(metric, attributions=ATTRIBUTIONS, **kwargs):
    kwargs.setdefault("feature_mask", MASK_OF_WORDS)
    kwargs.setdefault("additional_forward_args", ATTENTION)
    return metric(MODEL, IDS, attributions, **kwargs)


@pytest.mark.parametrize("mode", list(REMOVALS))
def test_comprehensiveness_by_hand_in_every_removal_mode(mode):
    removal, remaining = REMOVALS[mode]
    result = run(comprehensiveness, removal=removal)
    assert result.name == "comprehensiveness@20%"
    assert result.mean == pytest.approx(P - sigmoid(remaining), abs=1e-6)
    assert result.details["removal"] == mode
    assert result.details["higher_is_better"] is True


def test_sufficiency_by_hand():
    # only word 5 kept (weight 2); with [MASK] the two others weigh 0.25 each
    assert run(sufficiency).mean == pytest.approx(P - sigmoid(2.0), abs=1e-6)
    masked = run(sufficiency, removal=Removal("mask", token_id=MASK))
    assert masked.mean == pytest.approx(P - sigmoid(2.5), abs=1e-6)
    assert masked.details["higher_is_better"] is False


def test_aopc_eraser_schedule_by_hand():
    # 3 words: 1, 5, 10, 20% -> 1 word, 50% -> ceil(1.5) = 2 words
    comp = run(aopc_comprehensiveness)
    expected = (4 * (P - sigmoid(0.5)) + (P - sigmoid(-0.5))) / 5
    assert comp.mean == pytest.approx(expected, abs=1e-6)
    assert comp.name == "aopc_comprehensiveness(eraser)"
    assert comp.details["percents"] == ERASER_PERCENTS
    suff = run(aopc_sufficiency)
    expected = (4 * (P - sigmoid(2.0)) + (P - sigmoid(3.0))) / 5
    assert suff.mean == pytest.approx(expected, abs=1e-6)


def test_aopc_ferret_schedule_by_hand():
    # 10..100% of 3 words -> 1, 1, 1, 2, 2, 2, 3, 3, 3, 3 words
    comp = run(aopc_comprehensiveness, percents=FERRET_PERCENTS)
    removed = [0.5] * 3 + [-0.5] * 3 + [0.0] * 4
    expected = sum(P - sigmoid(s) for s in removed) / 10
    assert comp.mean == pytest.approx(expected, abs=1e-6)
    assert comp.name == "aopc_comprehensiveness(ferret)"
    assert comp.details["schedule"] == "ferret"
    suff = run(aopc_sufficiency, percents=FERRET_PERCENTS)
    kept = [2.0] * 3 + [3.0] * 3 + [2.5] * 4
    assert suff.mean == pytest.approx(sum(P - sigmoid(s) for s in kept) / 10, abs=1e-6)
    assert run(aopc_sufficiency, percents=(5, 50)).details["schedule"] == "custom"


def test_log_odds_by_hand():
    result = run(log_odds)
    assert result.mean == pytest.approx(math.log(sigmoid(0.5)) - math.log(P), abs=1e-5)
    padded = run(log_odds, removal=Removal("pad", token_id=PAD))
    assert padded.mean == pytest.approx(math.log(sigmoid(0.6)) - math.log(P), abs=1e-5)


def test_k_zero_removes_nothing_and_k_hundred_removes_every_word():
    assert run(comprehensiveness, percent=0).mean == pytest.approx(0.0, abs=1e-7)
    # no word left: only [CLS] [SEP], weight 0
    assert run(sufficiency, percent=0).mean == pytest.approx(P - 0.5, abs=1e-6)
    assert run(comprehensiveness, percent=100).mean == pytest.approx(P - 0.5, abs=1e-6)
    assert run(sufficiency, percent=100).mean == pytest.approx(0.0, abs=1e-7)


def test_words_for_percent_rounds_up_with_at_least_one_word():
    count = torch.tensor([3, 10, 1, 7])
    assert words_for_percent(0.0, count).tolist() == [0, 0, 0, 0]
    assert words_for_percent(1.0, count).tolist() == [1, 1, 1, 1]
    # 20% of 10 is exactly 2 despite floating point
    assert words_for_percent(20.0, count).tolist() == [1, 2, 1, 2]
    assert words_for_percent(70.0, count).tolist() == [3, 7, 1, 5]
    assert words_for_percent(100.0, count).tolist() == [3, 10, 1, 7]


def test_ties_keep_sentence_order():
    # words 6 and 7 tie at the top: the earlier one (6, weight 1) goes first
    tied = torch.tensor([[0.0, 0.1, 0.5, 0.5, 0.0, 0.0]])
    assert run(comprehensiveness, tied).mean == pytest.approx(
        P - sigmoid(1.5), abs=1e-6
    )
    # all equal: word 5 first
    flat = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0, 0.0]])
    assert run(comprehensiveness, flat).mean == pytest.approx(
        P - sigmoid(0.5), abs=1e-6
    )


def test_explicit_target_tracks_that_class():
    result = run(comprehensiveness, target=0)
    assert result.mean == pytest.approx((1 - P) - (1 - sigmoid(0.5)), abs=1e-6)


def test_probabilities_from_forward_func_with_output_probs():
    def probs(ids, attention):
        return torch.softmax(MODEL(ids, attention), dim=1)

    result = comprehensiveness(
        probs,
        IDS,
        ATTRIBUTIONS,
        feature_mask=MASK_OF_WORDS,
        additional_forward_args=ATTENTION,
        output="probs",
    )
    assert result.mean == pytest.approx(P - sigmoid(0.5), abs=1e-6)
    assert result.details["output"] == "probs"
    # the deprecated flag still works for one release, with a FutureWarning
    with pytest.warns(FutureWarning, match="`apply_softmax` is deprecated.*`output`"):
        old = comprehensiveness(
            probs,
            IDS,
            ATTRIBUTIONS,
            feature_mask=MASK_OF_WORDS,
            additional_forward_args=ATTENTION,
            apply_softmax=False,
        )
    assert old.mean == result.mean
    with pytest.raises(TypeError, match="pass `output` only"):
        comprehensiveness(probs, IDS, ATTRIBUTIONS, output="probs", apply_softmax=False)
    with pytest.raises(ValueError, match="`output` must be one of"):
        comprehensiveness(probs, IDS, ATTRIBUTIONS, output="softmax")


def test_layer_attributions_are_summed_and_pooling_is_chosen():
    # (1, T, 2): summed over the last dimension gives ATTRIBUTIONS
    layered = torch.stack([ATTRIBUTIONS * 0.25, ATTRIBUTIONS * 0.75], dim=-1)
    assert run(comprehensiveness, layered).mean == pytest.approx(
        P - sigmoid(0.5), abs=1e-6
    )
    # words: "5 6" (one word, two tokens, 0.3 each) and "7" (0.5)
    feature_mask = torch.tensor([[-1, 0, 0, 1, -1, -1]])
    shared = torch.tensor([[0.0, 0.3, 0.3, 0.5, 0.0, 0.0]])
    # auto: shared values -> mean 0.3 < 0.5, word "7" removed first
    auto = run(comprehensiveness, shared, feature_mask=feature_mask, percent=50)
    assert auto.mean == pytest.approx(P - sigmoid(3.0), abs=1e-6)
    summed = run(
        comprehensiveness, shared, feature_mask=feature_mask, percent=50, pool="sum"
    )
    assert summed.mean == pytest.approx(P - sigmoid(-0.5), abs=1e-6)
    # token-level values that differ within the word are summed by auto
    token_level = torch.tensor([[0.0, 0.2, 0.4, 0.5, 0.0, 0.0]])
    assert run(
        comprehensiveness, token_level, feature_mask=feature_mask, percent=50
    ).mean == pytest.approx(P - sigmoid(-0.5), abs=1e-6)


def test_batched_equals_unbatched():
    ids, attention, mask = batch(
        sentence(5, 6, 7), sentence(9, 6), sentence(7, 8, 5, 6)
    )
    attributions = torch.randn(ids.shape, generator=torch.Generator().manual_seed(0))
    for metric in (comprehensiveness, sufficiency, aopc_comprehensiveness, log_odds):
        together = metric(
            MODEL,
            ids,
            attributions,
            feature_mask=mask,
            additional_forward_args=attention,
            internal_batch_size=3,
        )
        for i in range(3):
            alone = metric(
                MODEL,
                ids[i : i + 1],
                attributions[i : i + 1],
                feature_mask=mask[i : i + 1],
                additional_forward_args=attention[i : i + 1],
            )
            assert together.per_example[i].item() == pytest.approx(
                alone.per_example[0].item(), abs=1e-6
            )
        assert together.n == 3


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="`inputs` must be token ids"):
        comprehensiveness(MODEL, torch.randn(1, 6, 2), ATTRIBUTIONS)
    with pytest.raises(ValueError, match="`attributions` must have shape"):
        run(comprehensiveness, torch.zeros(1, 5))
    with pytest.raises(TypeError, match="`attributions`"):
        run(comprehensiveness, [0.0] * 6)
    with pytest.raises(ValueError, match="NaN"):
        run(comprehensiveness, torch.full((1, 6), float("nan")))
    with pytest.raises(ValueError, match="`percent`"):
        run(comprehensiveness, percent=120)
    with pytest.raises(ValueError, match="`percents`"):
        run(aopc_comprehensiveness, percents=())
    with pytest.raises(ValueError, match="`pool`"):
        run(comprehensiveness, pool="median")
    with pytest.raises(ValueError, match="\\(batch, classes\\)"):
        comprehensiveness(
            lambda ids: ids.float().sum(1),
            IDS,
            ATTRIBUTIONS,
            feature_mask=MASK_OF_WORDS,
        )


def test_identical_copies_are_evaluated_once():
    rows = []

    def counting(ids, attention):
        rows.append(ids.shape[0])
        return MODEL(ids, attention)

    result = aopc_comprehensiveness(
        counting,
        IDS,
        ATTRIBUTIONS,
        feature_mask=MASK_OF_WORDS,
        additional_forward_args=ATTENTION,
    )
    # the unperturbed batch, then 1 word removed (k = 1, 5, 10, 20%) and 2 (50%)
    assert rows == [1, 2]
    assert result.mean == pytest.approx(
        (4 * (P - sigmoid(0.5)) + (P - sigmoid(-0.5))) / 5, abs=1e-6
    )
