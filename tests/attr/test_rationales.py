import pytest
import torch

from captum_nlp_ext.attr.rationales import (
    mean_rationale_length,
    threshold_rationale,
    top_fraction_rationale,
    top_k_rationale,
    top_percent_rationale,
)

# Two examples: [CLS] w0 w0 w1 w2 [SEP] (w0 has two tokens) and
# [CLS] v0 v1 v2 [SEP] [PAD].
SCORES = torch.tensor([[9.0, 0.8, 0.8, 0.1, 0.5, 9.0], [9.0, 0.2, 0.3, 0.4, 9.0, 9.0]])
UNITS = torch.tensor([[-1, 0, 0, 1, 2, -1], [-1, 0, 1, 2, -1, -1]])


def tokens(*rows):
    return torch.tensor(rows, dtype=torch.bool)


def test_top_k_selects_whole_units_and_never_excluded_tokens():
    assert torch.equal(
        top_k_rationale(SCORES, 1, UNITS),
        tokens([0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0]),
    )
    assert torch.equal(
        top_k_rationale(SCORES, torch.tensor([2, 9]), UNITS),
        tokens([0, 1, 1, 0, 1, 0], [0, 1, 1, 1, 0, 0]),
    )
    assert not top_k_rationale(SCORES, 0, UNITS).any()


def test_top_k_without_units_ranks_tokens():
    selected = top_k_rationale(torch.tensor([[0.1, 0.7, 0.3, 0.9]]), 2)
    assert torch.equal(selected, tokens([0, 1, 0, 1]))


def test_top_k_breaks_ties_towards_earlier_units():
    selected = top_k_rationale(torch.tensor([[0.5, 0.5, 0.5]]), 2)
    assert torch.equal(selected, tokens([1, 1, 0]))


def test_top_percent_rounds_half_up_per_example():
    # 3 units each: 20% of 3 = 0.6 -> 1 unit, 60% -> 1.8 -> 2, 10% -> 0.3 -> 0.
    assert torch.equal(
        top_percent_rationale(SCORES, 20, UNITS),
        tokens([0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0]),
    )
    assert torch.equal(
        top_percent_rationale(SCORES, 60, UNITS),
        top_k_rationale(SCORES, 2, UNITS),
    )
    assert not top_percent_rationale(SCORES, 10, UNITS).any()


def test_top_fraction_rationale_is_deprecated_and_equal():
    for percent in (10, 20, 60, 100):
        with pytest.warns(FutureWarning, match="top_percent_rationale"):
            old = top_fraction_rationale(SCORES, percent / 100, UNITS)
        assert torch.equal(old, top_percent_rationale(SCORES, percent, UNITS))


def test_threshold():
    assert torch.equal(
        threshold_rationale(SCORES, 0.4, UNITS),
        tokens([0, 1, 1, 0, 1, 0], [0, 0, 0, 1, 0, 0]),
    )


def test_mean_rationale_length():
    gold = [[0, 1, 1, 0], torch.tensor([True, False]), [1, 1, 1, 1, 0, 0, 0, 0]]
    assert mean_rationale_length(gold) == pytest.approx((2 + 1 + 4) / 3)
    assert mean_rationale_length(gold, percent=True) == pytest.approx(50.0)
    with pytest.warns(FutureWarning, match="percent=True"):
        assert mean_rationale_length(gold, relative=True) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: top_k_rationale(SCORES, -1, UNITS), ValueError, "`k`"),
        (lambda: top_k_rationale(SCORES, [1, 2, 3], UNITS), ValueError, "`k`"),
        (lambda: top_k_rationale(SCORES, 1.5, UNITS), ValueError, "`k`"),
        (lambda: top_percent_rationale(SCORES, 150, UNITS), ValueError, "percent"),
        (lambda: top_percent_rationale(SCORES, 0.0, UNITS), ValueError, "percent"),
        (lambda: threshold_rationale(SCORES, "high", UNITS), TypeError, "threshold"),
        (lambda: top_k_rationale(SCORES[0], 1), ValueError, "attributions"),
        (lambda: top_k_rationale(SCORES, 1, UNITS[:, :3]), ValueError, "feature"),
        (lambda: mean_rationale_length([]), ValueError, "empty"),
        (lambda: mean_rationale_length([[0, 2]]), ValueError, "0/1"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_words_pool_like_the_metrics():
    # Token-level scores (w0's two tokens differ): a word scores the sum of its
    # tokens, as in the metrics' "auto" rule; word-level scores (shared by a
    # word's tokens) score that shared value.
    token_level = torch.tensor([[0.0, 0.5, 0.2, 0.0, 0.6, 0.0]])
    units = UNITS[:1]
    # sum: w0 0.7 > w2 0.6 (a mean would pick w2: 0.35 < 0.6)
    assert torch.equal(
        top_k_rationale(token_level, 1, units), tokens([0, 1, 1, 0, 0, 0])
    )
    word_level = torch.tensor([[0.0, 0.4, 0.4, 0.0, 0.6, 0.0]])
    assert torch.equal(
        top_k_rationale(word_level, 1, units), tokens([0, 0, 0, 0, 1, 0])
    )
