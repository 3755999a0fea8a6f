import itertools
import math

import pytest
import torch

from captum_nlp_ext.metrics import auprc, iou_f1, token_f1, word_score_correlation
from captum_nlp_ext.testing import (
    keyword_conjunction_task,
    negated_keyword_task,
    planted_keyword_task,
)


def one_row(*values):
    return torch.tensor([values], dtype=torch.float64)


# --- AUPRC -----------------------------------------------------------------


def test_auprc_of_a_known_ranking():
    # Ranking: pos, neg, pos, neg, neg -> precisions 1/1 and 2/3 at the hits.
    result = auprc(one_row(0.9, 0.8, 0.7, 0.6, 0.5), torch.tensor([[1, 0, 1, 0, 0]]))
    assert result.per_example[0].item() == pytest.approx((1 + 2 / 3) / 2)
    assert result.name == "auprc" and result.n == 1


def test_auprc_ties_share_their_threshold():
    # The two tied words enter together: precision 1/2 for the hit among them.
    result = auprc(one_row(1.0, 1.0, 0.0), torch.tensor([[0, 1, 0]]))
    assert result.per_example[0].item() == pytest.approx(0.5)
    # Trapezoids from (0, 1) to the tie's point (R=1, P=1/2).
    trapezoid = auprc(
        one_row(1.0, 1.0, 0.0), torch.tensor([[0, 1, 0]]), method="trapezoid"
    )
    assert trapezoid.per_example[0].item() == pytest.approx((1 + 0.5) / 2)


def test_auprc_trapezoid_differs_from_average_precision_by_hand():
    # Points (0,1) -> (R=0,P=0) -> (R=1,P=1/2): area 1 * (0 + 1/2) / 2.
    scores, gold = one_row(3.0, 2.0, 1.0), torch.tensor([[0, 1, 0]])
    assert auprc(scores, gold, method="trapezoid").mean == pytest.approx(0.25)
    assert auprc(scores, gold).mean == pytest.approx(0.5)


def test_auprc_pools_sub_tokens_into_words_and_skips_excluded_tokens():
    # Words: {1,2} -> 0.1 + 0.5 = 0.6, {3} -> 0.4, {4} -> 0.7; [CLS]/[SEP] excluded
    # with huge scores that must not count.
    attributions = one_row(9.0, 0.1, 0.5, 0.4, 0.7, 9.0)
    feature_mask = torch.tensor([[-1, 0, 0, 1, 2, -1]])
    rationale = torch.tensor([[1, 0, 1, 0, 0, 1]])  # word 0, via its 2nd token
    result = auprc(attributions, rationale, feature_mask=feature_mask)
    # Ranking: word 2 (neg, 0.7), word 0 (pos, 0.6), word 1 (neg).
    assert result.mean == pytest.approx(0.5)
    by_words = auprc(attributions, [[1, 0, 0]], feature_mask=feature_mask)
    assert by_words.mean == pytest.approx(0.5)
    # Mean pooling: word 0 = 0.3 falls below word 1 = 0.4: the hit comes last.
    mean_pooled = auprc(attributions, rationale, feature_mask=feature_mask, pool="mean")
    assert mean_pooled.mean == pytest.approx(1 / 3)


def test_auprc_of_layer_attributions_sums_hidden():
    layer = torch.tensor([[[1.0, -3.0], [0.5, 0.5], [2.0, 0.0]]])  # sums -2, 1, 2
    assert auprc(layer, torch.tensor([[1, 0, 0]])).mean == pytest.approx(1 / 3)
    # By magnitude |-2| ties word 2's 2: the tie's precision is 1/2.
    magnitude = auprc(layer, torch.tensor([[1, 0, 0]]), absolute=True)
    assert magnitude.mean == pytest.approx(0.5)


def test_auprc_edge_cases():
    scores = torch.tensor([[0.3, 0.2, 0.1], [0.3, 0.2, 0.1], [0.5, 0.5, 0.5]])
    gold = torch.tensor([[0, 0, 0], [1, 1, 1], [0, 1, 0]])
    result = auprc(scores.double(), gold)
    assert math.isnan(result.per_example[0])  # empty rationale: undefined
    assert result.per_example[1].item() == 1.0  # every word in the rationale
    assert result.per_example[2].item() == pytest.approx(1 / 3)  # constant scores
    assert result.n == 2


def test_auprc_chance_is_the_expected_average_precision_of_a_random_ranking():
    # N=3, P=2: AP of the 3 placements {1,2}, {1,3}, {2,3} is 1, 5/6, 7/12.
    result = auprc(one_row(1.0, 2.0, 3.0), torch.tensor([[1, 1, 0]]))
    assert result.details["chance"] == pytest.approx((1 + 5 / 6 + 7 / 12) / 3)
    every = torch.tensor(list(itertools.permutations(range(5))), dtype=torch.float64)
    gold = torch.tensor([[1, 0, 0, 1, 0]]).expand(len(every), -1)
    exhaustive = auprc(every, gold)
    assert exhaustive.mean == pytest.approx(exhaustive.details["chance"])


def test_auprc_checks_its_arguments():
    scores = one_row(0.1, 0.2)
    with pytest.raises(ValueError, match="`rationale` must be a 0/1 token mask"):
        auprc(scores, torch.tensor([[1, 0, 0]]))
    with pytest.raises(ValueError, match="only 0 and 1"):
        auprc(scores, torch.tensor([[2, 0]]))
    with pytest.raises(ValueError, match=r"`rationale`\[0\] has 3 values"):
        auprc(scores, [[1, 0, 0]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        auprc(one_row(float("nan"), 0.2), torch.tensor([[1, 0]]))
    with pytest.raises(TypeError, match="`attributions` must be floating point"):
        auprc(torch.tensor([[1, 2]]), torch.tensor([[1, 0]]))
    with pytest.raises(ValueError, match="`method` must be one of"):
        auprc(scores, torch.tensor([[1, 0]]), method="roc")
    with pytest.raises(ValueError, match="`pool` must be one of"):
        auprc(scores, torch.tensor([[1, 0]]), pool="max")


# --- token F1 ----------------------------------------------------------------


def test_token_f1_by_hand():
    scores, gold = one_row(5.0, 1.0, 4.0, 0.0, 0.0), torch.tensor([[1, 1, 0, 0, 0]])
    # k = 2 (rationale length): words 0 and 2 selected, one hit: P = R = 1/2.
    default = token_f1(scores, gold)
    assert default.mean == pytest.approx(0.5)
    # k = 3: words 0, 2, 1: two hits, P = 2/3, R = 1, F1 = 0.8.
    assert token_f1(scores, gold, k=3).mean == pytest.approx(0.8)
    assert token_f1(scores, gold, k=3).details["precision"] == pytest.approx(2 / 3)
    # 40% of 5 words = 2 words.
    assert token_f1(scores, gold, k=0.4).mean == pytest.approx(0.5)
    # Chance: 2kP / (N (k + P)) = 2*2*2 / (5*4).
    assert default.details["chance"] == pytest.approx(0.4)


def test_token_f1_edge_cases():
    scores, gold = one_row(5.0, 1.0, 4.0, 0.0, 0.0), torch.tensor([[1, 1, 0, 0, 0]])
    # 9% of 5 words rounds to 0 words: nothing selected, F1 0 (as ERASER).
    zero = token_f1(scores, gold, k=0.09)
    assert zero.mean == 0.0 and zero.details["precision"] == 0.0
    # 10% of 5 is 0.5 words: rounded half up to one word.
    assert token_f1(scores, gold, k=0.1).details["precision"] == 1.0
    # k beyond the sentence selects every word.
    assert token_f1(scores, gold, k=50).mean == pytest.approx(2 * (2 / 5) / (1 + 2 / 5))
    # Ties at the cut go to the earlier word.
    tied = token_f1(one_row(1.0, 1.0, 1.0), torch.tensor([[0, 1, 0]]))
    assert tied.mean == 0.0
    assert token_f1(one_row(1.0, 1.0, 1.0), torch.tensor([[1, 0, 0]])).mean == 1.0
    # Empty rationale: undefined.
    assert math.isnan(token_f1(scores, torch.zeros(1, 5)).per_example[0])


def test_token_f1_of_a_hard_rationale_with_positive_selection():
    hard = one_row(1.0, 0.0, 1.0, 1.0, 0.0)
    gold = torch.tensor([[1, 1, 0, 0, 0]])
    # Selected words 0, 2, 3: one hit, P = 1/3, R = 1/2, F1 = 0.4.
    assert token_f1(hard, gold, k="positive").mean == pytest.approx(0.4)


def test_token_f1_per_example_k_and_micro_average():
    scores = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    gold = torch.tensor([[1, 0, 0], [0, 1, 1]])
    result = token_f1(scores, gold, k=torch.tensor([1, 3]))
    # Example 0: word 0, a hit (F1 1). Example 1: all 3 words, 2 hits: 0.8.
    assert result.per_example.tolist() == pytest.approx([1.0, 0.8])
    # Micro: 3 hits, 4 selected, 3 gold -> P 3/4, R 1.
    assert result.details["micro_f1"] == pytest.approx(2 * 0.75 / 1.75)


def test_token_f1_checks_k():
    scores, gold = one_row(1.0, 2.0), torch.tensor([[1, 0]])
    with pytest.raises(ValueError, match="`k` must be >= 0"):
        token_f1(scores, gold, k=-1)
    with pytest.raises(ValueError, match=r"`k` as a fraction of words must lie in"):
        token_f1(scores, gold, k=1.5)
    with pytest.raises(ValueError, match="'positive'"):
        token_f1(scores, gold, k="top")
    with pytest.raises(TypeError, match="`k` must be None"):
        token_f1(scores, gold, k=True)
    with pytest.raises(ValueError, match="one an example"):
        token_f1(scores, gold, k=torch.tensor([1, 2]))


# --- IOU F1 --------------------------------------------------------------------


def test_iou_f1_by_hand():
    gold = torch.tensor(
        [[1, 1, 1, 0, 0, 0, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]]
    )
    predicted = torch.tensor(
        [[0, 1, 0, 0, 0, 0, 1, 1, 1, 0], [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]]
    ).double()
    result = iou_f1(predicted, gold, k="positive")
    # Example 0: spans [1,2) ~ [0,3) IOU 1/3 (no), [6,9) ~ [6,8) IOU 2/3 (yes):
    # P = 1/2, R = 1/2. Example 1: [1,3) ~ [0,2) IOU 1/3: no match.
    assert result.per_example.tolist() == pytest.approx([0.5, 0.0])
    assert result.details["precision"] == pytest.approx(0.25)
    assert result.details["recall"] == pytest.approx(0.25)
    assert result.details["eraser_macro_f1"] == pytest.approx(0.25)
    # Micro: 1 of 3 predicted spans, 1 of 3 gold spans.
    assert result.details["micro_f1"] == pytest.approx(1 / 3)
    # A lower threshold accepts IOU 1/3.
    assert iou_f1(predicted, gold, k="positive", threshold=0.3).mean == 1.0


def test_iou_f1_top_k_spans_and_edge_cases():
    scores = one_row(0.1, 0.9, 0.8, 0.2, 0.7)
    gold = torch.tensor([[0, 1, 1, 0, 1]])
    # k = 3 picks words 1, 2, 4: spans [1,3) and [4,5) equal the gold ones.
    assert iou_f1(scores, gold).mean == 1.0
    # k = 1: only [1,2), IOU 1/2 with [1,3): a match (>= 0.5); recall 1/2.
    assert iou_f1(scores, gold, k=1).mean == pytest.approx(2 * 0.5 / 1.5)
    # Nothing selected: F1 0. Empty rationale: NaN.
    assert iou_f1(scores, gold, k=0.05).mean == 0.0
    assert math.isnan(iou_f1(scores, torch.zeros(1, 5)).per_example[0])
    # Every word in both: one span each, a perfect match.
    assert iou_f1(scores, torch.ones(1, 5), k=1.0).mean == 1.0
    with pytest.raises(ValueError, match="`threshold` must lie in"):
        iou_f1(scores, gold, threshold=0.0)


def _reference_iou_f1(selected, gold, threshold=0.5):
    def runs(flags):
        out, start = [], None
        for i, f in enumerate(list(flags) + [0]):
            if f and start is None:
                start = i
            if not f and start is not None:
                out.append(set(range(start, i)))
                start = None
        return out

    p, g = runs(selected), runs(gold)
    if not g:
        return float("nan")

    def best(span, others):
        return max((len(span & o) / len(span | o) for o in others), default=0.0)

    precision = sum(best(s, g) >= threshold for s in p) / len(p) if p else 0.0
    recall = sum(best(s, p) >= threshold for s in g) / len(g)
    return (
        0.0
        if precision + recall == 0
        else 2 * precision * recall / (precision + recall)
    )


def test_iou_f1_agrees_with_a_plain_python_reference():
    generator = torch.Generator().manual_seed(0)
    selected = torch.rand(64, 12, generator=generator) < 0.4
    gold = torch.rand(64, 12, generator=generator) < 0.4
    result = iou_f1(selected.double(), gold, k="positive")
    expected = [
        _reference_iou_f1(s.tolist(), g.tolist()) for s, g in zip(selected, gold)
    ]
    assert torch.allclose(
        result.per_example, torch.tensor(expected, dtype=torch.float64), equal_nan=True
    )


# --- Pearson with word scores --------------------------------------------------


def test_word_score_correlation_by_hand():
    # x = (3, 1, 2), y = (.1, .2, .3): centred (1, -1, 0) and (-.1, 0, .1):
    # r = -0.1 / (sqrt(2) * sqrt(0.02)) = -0.5.
    result = word_score_correlation(one_row(3.0, 1.0, 2.0), [[0.1, 0.2, 0.3]])
    assert result.mean == pytest.approx(-0.5)
    # Magnitudes by default: -3 correlates like 3.
    assert word_score_correlation(one_row(-3.0, 1.0, 2.0), [[0.1, 0.2, 0.3]]).mean == (
        pytest.approx(-0.5)
    )
    signed = word_score_correlation(
        one_row(-3.0, 1.0, 2.0), [[0.1, 0.2, 0.3]], absolute=False
    )
    # x = (-3, 1, 2): centred (-3, 1, 2), cov 0.5, sx = sqrt(14): r = 0.5/sqrt(.28)
    assert signed.mean == pytest.approx(0.5 / math.sqrt(14 * 0.02))


def test_word_score_correlation_edge_cases():
    scores = torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])
    gold = [[0.5, float("nan"), 0.1], [0.1, 0.2, 0.3], [0.2, 0.2, 0.2]]
    result = word_score_correlation(scores, gold)
    # Example 0: the unknown word is left out; two words: r = -1.
    assert result.per_example[0].item() == pytest.approx(-1.0)
    assert math.isnan(result.per_example[1])  # constant attributions
    assert math.isnan(result.per_example[2])  # constant gold
    assert result.n == 1
    # Gold on tokens: a word gets its tokens' mean.
    tokens = torch.tensor([[0.1, 0.3, 0.5, 0.9]])
    mask = torch.tensor([[0, 0, 1, 2]])
    pooled = word_score_correlation(
        one_row(0.2, 0.2, 0.5, 0.9), tokens, feature_mask=mask, pool="mean"
    )
    assert pooled.mean == pytest.approx(1.0)
    with pytest.raises(ValueError, match="`word_scores_gold` must be a float tensor"):
        word_score_correlation(one_row(0.2, 0.3), torch.tensor([[1, 2]]))


# --- the metric suite's own sanity test ---------------------------------------


@pytest.mark.parametrize(
    "make_task", [planted_keyword_task, negated_keyword_task, keyword_conjunction_task]
)
def test_perfect_attributions_score_best_and_random_ones_near_chance(make_task):
    task = make_task(512, seed=3)
    perfect = task.evidence.double()
    generator = torch.Generator().manual_seed(0)
    random = torch.rand(perfect.shape, generator=generator, dtype=torch.float64)
    gold, words = task.evidence, {"feature_mask": task.feature_mask}

    best, chance = auprc(perfect, gold, **words), auprc(random, gold, **words)
    assert best.mean == 1.0 and best.n == len(task)
    assert chance.mean == pytest.approx(chance.details["chance"], abs=0.03)
    assert chance.ci_high < 0.9

    best, chance = token_f1(perfect, gold, **words), token_f1(random, gold, **words)
    assert best.mean == 1.0
    assert chance.mean == pytest.approx(chance.details["chance"], abs=0.03)

    # IOU F1 has no closed-form chance level: other random draws give it.
    best, chance = iou_f1(perfect, gold, **words), iou_f1(random, gold, **words)
    draws = [
        iou_f1(torch.rand(perfect.shape, generator=generator), gold, **words).mean
        for _ in range(5)
    ]
    assert best.mean == 1.0
    assert chance.mean == pytest.approx(sum(draws) / len(draws), abs=0.04)
    assert chance.mean < 0.5

    gold = [row[mask >= 0].tolist() for row, mask in zip(perfect, task.feature_mask)]
    best = word_score_correlation(perfect, gold, feature_mask=task.feature_mask)
    chance = word_score_correlation(random, gold, feature_mask=task.feature_mask)
    assert best.mean == pytest.approx(1.0)
    assert abs(chance.mean) < 0.05 and chance.ci_low < 0 < chance.ci_high


def test_sst_word_sentiment_protocol_with_the_real_model(models_dir, data_dir):
    from captum.attr import LayerIntegratedGradients
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from captum_nlp_ext._utils.units import build_units
    from captum_nlp_ext.datasets import centred_word_sentiment, load_sst
    from captum_nlp_ext.huggingface import (
        ClassifierForward,
        get_embedding_layer,
        word_feature_mask,
    )

    folder = models_dir / "minilm-sst2"
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    trees = [t for t in load_sst("dev", data_dir, limit=48) if t.label is not None]
    trees = trees[:16]
    encoding = tokenizer(
        [list(t.words) for t in trees],
        is_split_into_words=True,
        padding=True,
        return_tensors="pt",
    )
    mask = word_feature_mask(encoding)
    gold = [centred_word_sentiment(t.word_scores) for t in trees]
    forward = ClassifierForward(model)
    with torch.no_grad():
        target = forward(encoding["input_ids"], encoding["attention_mask"]).argmax(-1)
    lig = LayerIntegratedGradients(forward, get_embedding_layer(model))
    attributions = lig.attribute(
        encoding["input_ids"],
        target=target,
        additional_forward_args=(encoding["attention_mask"],),
        n_steps=8,
    )
    # Per-word gold lists line up with the tokenizer's words.
    explained = word_score_correlation(attributions, gold, feature_mask=mask)
    units = build_units(mask, len(trees), mask.shape[1], mask.device)
    padded = torch.zeros(len(trees), units.max_units, dtype=torch.float64)
    for row, values in enumerate(gold):
        padded[row, : len(values)] = torch.tensor(values)
    perfect = word_score_correlation(
        units.to_tokens(padded), gold, feature_mask=mask, pool="mean"
    )
    noise = torch.rand(
        attributions.shape[:2], generator=torch.Generator().manual_seed(0)
    )
    random = word_score_correlation(noise, gold, feature_mask=mask)
    assert perfect.mean == pytest.approx(1.0) and perfect.n == explained.n >= 12
    # Integrated gradients track word sentiment far better than chance (0.41
    # against -0.05 when this test was written).
    assert explained.ci_low > 0 and explained.mean > random.mean + 0.2
