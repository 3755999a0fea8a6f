import sys

import pytest
import torch
from faithfulness_toys import BagOfWords, batch, MASK, sentence, sigmoid

from captum_nlp_ext.metrics import (
    deletion_curve,
    delta_accuracy,
    insertion_curve,
    mean_curve,
    plot_curves,
    Removal,
)

MODEL = BagOfWords()
IDS, ATTENTION, WORDS = sentence(5, 6, 7)
ATTRIBUTIONS = torch.tensor([[0.0, 0.9, 0.5, 0.1, 0.0, 0.0]])


def trapezoid(ys):
    width = 1.0 / (len(ys) - 1)
    return sum((a + b) / 2 * width for a, b in zip(ys, ys[1:]))


def run(metric, **kwargs):
    return metric(
        MODEL,
        IDS,
        ATTRIBUTIONS,
        feature_mask=WORDS,
        additional_forward_args=ATTENTION,
        **kwargs,
    )


def test_deletion_curve_by_hand():
    # remove 5, then 6, then 7: weights left 2.5, 0.5, -0.5, 0
    ys = [sigmoid(s) for s in (2.5, 0.5, -0.5, 0.0)]
    result = run(deletion_curve)
    x, y = result.details["curves"][0]
    assert x.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert y.tolist() == pytest.approx(ys, abs=1e-6)
    assert result.mean == pytest.approx(trapezoid(ys), abs=1e-6)
    assert result.name == "deletion_auc"
    assert result.details["higher_is_better"] is False
    assert result.details["removal"] == "delete"


def test_insertion_curve_by_hand():
    ys = [sigmoid(s) for s in (0.0, 2.0, 3.0, 2.5)]
    result = run(insertion_curve)
    assert result.mean == pytest.approx(trapezoid(ys), abs=1e-6)
    assert result.details["higher_is_better"] is True
    # [MASK] (weight 0.25) stands for every word not yet inserted
    masked = run(insertion_curve, removal=Removal("mask", token_id=MASK))
    ys = [sigmoid(s) for s in (0.75, 2.5, 3.25, 2.5)]
    assert masked.mean == pytest.approx(trapezoid(ys), abs=1e-6)


def test_curve_on_a_percent_grid():
    # 50% of 3 words -> 2 words; 0% and 100% added
    result = run(deletion_curve, percents=[50])
    x, y = result.details["curves"][0]
    assert x.tolist() == pytest.approx([0, 2 / 3, 1])
    ys = [sigmoid(s) for s in (2.5, -0.5, 0.0)]
    expected = (ys[0] + ys[1]) / 2 * 2 / 3 + (ys[1] + ys[2]) / 2 / 3
    assert result.mean == pytest.approx(expected, abs=1e-6)


def test_curves_of_examples_of_different_lengths():
    ids, attention, words = batch(sentence(5, 6, 7), sentence(9, 6), sentence(8))
    attributions = torch.tensor(
        [[0, 0.9, 0.5, 0.1, 0, 0], [0, 0.1, 0.9, 0, 0, 0], [0, 1.0, 0, 0, 0, 0]]
    )
    result = deletion_curve(
        MODEL,
        ids,
        attributions,
        feature_mask=words,
        additional_forward_args=attention,
        internal_batch_size=4,
    )
    assert [len(x) for x, _ in result.details["curves"]] == [4, 3, 2]
    # second sentence, predicted class 0 (sum -2): remove 6 then 9
    ys = [1 - sigmoid(s) for s in (-2.0, -3.0, 0.0)]
    assert result.per_example[1].item() == pytest.approx(trapezoid(ys), abs=1e-6)
    # one word: a straight line from p(x) to p(empty) = 0.5
    assert result.per_example[2].item() == pytest.approx(0.5, abs=1e-6)
    x, y = mean_curve(result, points=3)
    assert x.tolist() == [0.0, 0.5, 1.0]
    assert y[0].item() == pytest.approx(
        (sigmoid(2.5) + 1 - sigmoid(-2.0) + 0.5) / 3, abs=1e-6
    )


def test_mean_curve_needs_a_curve_result():
    with pytest.raises(ValueError, match="holds no curves"):
        mean_curve(run(delta_accuracy, words=(1,), percents=())["prediction@1w"])


def test_plot_curves_draws_one_line_per_method():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    ax = plot_curves({"good": run(deletion_curve), "other": run(deletion_curve)})
    assert len(ax.get_lines()) == 2


def test_plot_curves_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_curves(run(deletion_curve))
