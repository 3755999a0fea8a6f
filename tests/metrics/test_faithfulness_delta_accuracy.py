import pytest
import torch
from faithfulness_toys import BagOfWords, batch, sentence

from captum_nlp_ext.metrics import delta_accuracy

MODEL = BagOfWords()
# sums and predictions: 2.5 -> 1; (5, 7, 7, 7) 0.5 -> 1; (9, 6) -2 -> 0
IDS, ATTENTION, WORDS = batch(
    sentence(5, 6, 7, length=7),
    sentence(5, 7, 7, 7, length=7),
    sentence(9, 6, length=7),
)
# first word ranked first everywhere, then in order
ATTRIBUTIONS = torch.tensor(
    [
        [0, 3.0, 2.0, 1.0, 0, 0, 0],
        [0, 4.0, 3.0, 2.0, 1.0, 0, 0],
        [0, 2.0, 1.0, 0, 0, 0, 0],
    ]
)
LABELS = torch.tensor([1, 0, 0])


def run(**kwargs):
    return delta_accuracy(
        MODEL,
        IDS,
        ATTRIBUTIONS,
        feature_mask=WORDS,
        additional_forward_args=ATTENTION,
        **kwargs,
    )


def test_delta_accuracy_by_hand():
    results = run(labels=LABELS, words=(1, 2, 5), percents=(50,))
    assert list(results) == [
        "gold@1w",
        "gold@2w",
        "gold@5w",
        "gold@50%",
        "prediction@1w",
        "prediction@2w",
        "prediction@5w",
        "prediction@50%",
    ]
    # predictions after removing the top 1 / 2 / all (5 > length) / 50% words:
    # ex 0: 0.5 -> 1, -0.5 -> 0, 0 -> 0 (tie, class 0), ceil(1.5) = 2 -> 0
    # ex 1: -1.5 -> 0, -1 -> 0, 0 -> 0, 2 words -> 0
    # ex 2: 1 -> 1, 0 -> 0, 0 -> 0, 1 word -> 1
    correct_before = torch.tensor([1.0, 0.0, 1.0])  # against LABELS
    after = {"1w": [1, 0, 1], "2w": [0, 0, 0], "5w": [0, 0, 0], "50%": [0, 0, 1]}
    for k, predicted in after.items():
        correct_after = (torch.tensor(predicted) == LABELS).float()
        gold = results[f"gold@{k}"]
        assert gold.per_example.tolist() == (correct_before - correct_after).tolist()
        assert gold.details["accuracy_before"] == pytest.approx(2 / 3)
        flips = (torch.tensor(predicted) != torch.tensor([1, 1, 0])).float()
        assert results[f"prediction@{k}"].per_example.tolist() == flips.tolist()
    assert results["gold@50%"].mean == pytest.approx(1 / 3)
    assert results["prediction@2w"].name == "delta_accuracy_prediction@2w"
    assert results["prediction@2w"].details["higher_is_better"] is True


def test_without_labels_only_prediction_results():
    results = run()
    assert list(results) == [
        "prediction@1w",
        "prediction@2w",
        "prediction@3w",
        "prediction@5w",
        "prediction@10%",
        "prediction@20%",
    ]
    assert all(r.details["removal"] == "delete" for r in results.values())


def test_bad_labels_and_ks():
    with pytest.raises(ValueError, match="`labels` must have shape"):
        run(labels=torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="`labels` must lie"):
        run(labels=torch.tensor([1, 0, 2]))
    with pytest.raises(TypeError, match="`labels`"):
        run(labels=[1, 0, 0])
    with pytest.raises(ValueError, match="`words` and `percents`"):
        run(words=(), percents=())
    with pytest.raises(ValueError, match="`words`"):
        run(words=(-1,))


def test_target_had_no_effect_and_is_deprecated():
    expected = run(labels=LABELS, words=(1,), percents=())
    with pytest.warns(FutureWarning, match="`target` has no effect in delta_accuracy"):
        got = run(labels=LABELS, words=(1,), percents=(), target=[1, 1, 1])
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key].per_example.tolist() == expected[key].per_example.tolist()
