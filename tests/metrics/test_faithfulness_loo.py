import pytest
import torch
from faithfulness_toys import BagOfWords, batch, MASK, sentence, sigmoid
from scipy.stats import kendalltau

from captum_nlp_ext.metrics import kendall_tau_loo, leave_one_out, Removal
from captum_nlp_ext.metrics.faithfulness.leave_one_out import kendall_tau_b

MODEL = BagOfWords()
IDS, ATTENTION, WORDS = sentence(5, 6, 7)
P = sigmoid(2.5)


def test_leave_one_out_by_hand():
    loo = leave_one_out(
        MODEL, IDS, feature_mask=WORDS, additional_forward_args=ATTENTION
    )
    expected = [0.0, P - sigmoid(0.5), P - sigmoid(1.5), P - sigmoid(3.0), 0.0, 0.0]
    assert loo[0].tolist() == pytest.approx(expected, abs=1e-6)
    masked = leave_one_out(
        MODEL,
        IDS,
        feature_mask=WORDS,
        additional_forward_args=ATTENTION,
        removal=Removal("mask", token_id=MASK),
    )
    assert masked[0, 1].item() == pytest.approx(P - sigmoid(0.75), abs=1e-6)


def test_leave_one_out_spreads_a_word_score_onto_its_tokens():
    words = torch.tensor([[-1, 0, 0, 1, -1, -1]])
    loo = leave_one_out(
        MODEL, IDS, feature_mask=words, additional_forward_args=ATTENTION
    )
    assert (
        loo[0, 1].item()
        == loo[0, 2].item()
        == pytest.approx(P - sigmoid(-0.5), abs=1e-6)
    )


def test_kendall_tau_b_matches_scipy_with_ties():
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 4, (5, 9), generator=generator).float()
    y = torch.randint(0, 4, (5, 9), generator=generator).float()
    valid = torch.ones(5, 9, dtype=torch.bool)
    valid[2, 6:] = False
    taus = kendall_tau_b(x, y, valid)
    for i in range(5):
        n = int(valid[i].sum())
        expected = kendalltau(x[i, :n].numpy(), y[i, :n].numpy()).statistic
        assert taus[i].item() == pytest.approx(expected, abs=1e-9)


def test_kendall_tau_loo_by_hand():
    def tau(attributions, **kwargs):
        return kendall_tau_loo(
            MODEL,
            IDS,
            attributions,
            feature_mask=WORDS,
            additional_forward_args=ATTENTION,
            **kwargs,
        )

    # LOO order: 5 > 6 > 7
    assert tau(torch.tensor([[0, 3.0, 2.0, 1.0, 0, 0]])).mean == pytest.approx(1.0)
    assert tau(torch.tensor([[0, 1.0, 2.0, 3.0, 0, 0]])).mean == pytest.approx(-1.0)
    # one tie in x: (C - D) / sqrt(2 * 3) with C = 2, D = 0
    result = tau(torch.tensor([[0, 3.0, 1.0, 1.0, 0, 0]]))
    assert result.mean == pytest.approx(2 / 6**0.5)
    assert result.name == "kendall_tau_loo"
    assert result.details["higher_is_better"] is True
    loo = torch.tensor([[0, 0.1, 0.3, 0.2, 0, 0]])
    given = tau(torch.tensor([[0, 1.0, 2.0, 3.0, 0, 0]]), loo=loo)
    assert given.mean == pytest.approx(1 / 3)
    assert given.details["loo_given"] is True


def test_kendall_tau_is_nan_for_a_single_word_or_constant_scores():
    ids, attention, words = batch(sentence(5), sentence(5, 6), sentence(5, 6, 7))
    attributions = torch.tensor(
        [[0, 1.0, 0, 0, 0, 0], [0, 1.0, 1.0, 0, 0, 0], [0, 3.0, 2.0, 1.0, 0, 0]]
    )
    result = kendall_tau_loo(
        MODEL, ids, attributions, feature_mask=words, additional_forward_args=attention
    )
    assert torch.isnan(result.per_example[:2]).all()
    assert result.n == 1 and result.mean == pytest.approx(1.0)
