from types import SimpleNamespace

import pytest
import torch
from faithfulness_toys import BagOfWords, batch, MASK, sentence, sigmoid

from captum_nlp_ext.metrics import auc_rep
from captum_nlp_ext.metrics.faithfulness.auc_rep import replacement_steps

MODEL = BagOfWords()
# the toy MLM always prefers [MASK] (banned), then word 8, then word 7
PREFERENCES = torch.tensor([0, 0, 0, 0, 10.0, 0, 0, 5.0, 9.0, 0])


class ToyMLM:
    def __init__(self, preferences=PREFERENCES):
        self.preferences = preferences
        self.seen = []

    def __call__(self, ids, attention_mask=None):
        self.seen.append(ids.clone())
        logits = self.preferences.expand(*ids.shape, -1).clone()
        return SimpleNamespace(logits=logits)


def run(ids, attention, words, attributions, mlm=None, **kwargs):
    kwargs.setdefault("mask_token_id", MASK)
    return auc_rep(
        MODEL,
        mlm or ToyMLM(),
        ids,
        attributions,
        feature_mask=words,
        additional_forward_args=attention,
        **kwargs,
    )


def area(ys):
    width = 1.0 / (len(ys) - 1)
    return sum((a + b) / 2 * width for a, b in zip(ys, ys[1:]))


def test_auc_rep_by_hand():
    ids, attention, words = sentence(5, 6, 7)
    mlm = ToyMLM()
    # 3 words -> max(2, ceil(0.4)) = 2 steps: 5 -> 8, then 6 -> 8
    result = run(ids, attention, words, torch.tensor([[0, 3.0, 2.0, 1.0, 0, 0]]), mlm)
    ys = [sigmoid(2.5), sigmoid(0.5), sigmoid(-0.5)]
    assert result.mean == pytest.approx(area(ys), abs=1e-6)
    assert result.details["steps"] == [2]
    assert result.details["removal"] == "mlm-replacement"
    assert result.details["higher_is_better"] is False
    # the MLM sees the sentence as replaced so far, the next word masked
    assert mlm.seen[1][0].tolist() == [1, 8, MASK, 7, 2, 0]


def test_top_two_when_the_top_guess_is_the_original_word():
    ids, attention, words = sentence(8, 5, 6)
    # word 8 first: the MLM's top-1 is 8 itself, so its top-2 (7) replaces it
    result = run(ids, attention, words, torch.tensor([[0, 3.0, 2.0, 1.0, 0, 0]]))
    ys = [sigmoid(3.0), sigmoid(2.5), sigmoid(0.5)]
    assert result.mean == pytest.approx(area(ys), abs=1e-6)


def test_tokenizer_supplies_mask_and_banned_special_ids():
    ids, attention, words = sentence(5, 6, 7)
    tokenizer = SimpleNamespace(mask_token_id=MASK, all_special_ids=[0, 1, 2, 3, 4])
    # 8 banned as well: 7 replaces both words
    result = run(
        ids,
        attention,
        words,
        torch.tensor([[0, 3.0, 2.0, 1.0, 0, 0]]),
        mask_token_id=None,
        tokenizer=tokenizer,
        special_token_ids=[8],
    )
    ys = [sigmoid(2.5), sigmoid(0.0), sigmoid(-1.5)]
    assert result.mean == pytest.approx(area(ys), abs=1e-6)


def test_steps_per_length():
    count = torch.tensor([1, 2, 3, 11, 12, 20])
    assert replacement_steps(count, 0.2, 2).tolist() == [1, 2, 2, 2, 3, 4]


def test_examples_with_different_numbers_of_steps_batch_like_alone():
    ids, attention, words = batch(
        sentence(5, 6, 7, 9, 8, 6, 7, 5, 6, 9, 7, 8, length=14),
        sentence(6, length=14),
        sentence(9, 6, length=14),
    )
    attributions = torch.rand(ids.shape, generator=torch.Generator().manual_seed(0))
    together = run(ids, attention, words, attributions, internal_batch_size=2)
    assert together.details["steps"] == [3, 1, 2]
    for i in range(3):
        alone = run(
            ids[i : i + 1],
            attention[i : i + 1],
            words[i : i + 1],
            attributions[i : i + 1],
        )
        assert alone.mean == pytest.approx(together.per_example[i].item(), abs=1e-6)


def test_bad_arguments():
    ids, attention, words = sentence(5, 6, 7)
    attributions = torch.tensor([[0, 3.0, 2.0, 1.0, 0, 0]])
    with pytest.raises(ValueError, match="`mask_token_id`"):
        run(ids, attention, words, attributions, mask_token_id=None)
    with pytest.raises(ValueError, match="same vocabulary|vocabulary"):
        run(ids, attention, words, attributions, mlm=ToyMLM(PREFERENCES[:6]))
    with pytest.raises(ValueError, match="`percent`"):
        run(ids, attention, words, attributions, percent=0)
    with pytest.raises(ValueError, match="`mlm` must return"):
        auc_rep(
            MODEL,
            lambda ids, attention: ids.float(),
            ids,
            attributions,
            mask_token_id=MASK,
            feature_mask=words,
            additional_forward_args=attention,
        )


def test_deprecated_names_still_work():
    ids, attention, words = sentence(5, 6, 7)
    attributions = torch.tensor([[0, 3.0, 2.0, 1.0, 0, 0]])
    expected = run(ids, attention, words, attributions, special_token_ids=[8])
    with pytest.warns(FutureWarning, match="`banned_ids` is deprecated"):
        old = run(ids, attention, words, attributions, banned_ids=[8])
    assert old.mean == expected.mean
    with pytest.warns(FutureWarning, match="`mask_id` is deprecated"):
        auc_rep(
            MODEL,
            ToyMLM(),
            ids,
            attributions,
            mask_id=MASK,
            feature_mask=words,
            additional_forward_args=attention,
        )


def test_fraction_is_deprecated_for_percent():
    ids, attention, words = sentence(5, 6, 7, 5, 6, 7, length=8)
    attributions = torch.tensor([[0, 3.0, 2.0, 1.0, 4.0, 0.5, 0.2, 0]])
    expected = run(ids, attention, words, attributions, percent=60)
    with pytest.warns(FutureWarning, match="`fraction` is deprecated"):
        old = run(ids, attention, words, attributions, fraction=0.6)
    assert old.mean == expected.mean
    assert old.details["steps"] == expected.details["steps"]
