import math

import pytest
import torch
from torch import nn

from captum_nlp_ext.huggingface import ClassifierForward
from captum_nlp_ext.metrics import (
    attribution_cost,
    auprc,
    confidence_indication,
    consistency_pairs,
    CostMeter,
    dataset_consistency,
    human_agreement,
    rationale_consistency,
)
from captum_nlp_ext.metrics._consistency import vocabulary_distance
from captum_nlp_ext.metrics.diagnostics import _difference_features
from captum_nlp_ext.testing import planted_keyword_task, tiny_bert_classifier

# --- human agreement -------------------------------------------------------------


def test_human_agreement_is_the_mean_average_precision():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6], [0.1, 0.2, 0.3, 0.4]])
    gold = torch.tensor([[1, 0, 1, 0], [1, 0, 0, 0]])
    result = human_agreement(scores, gold)
    # (1 + 2/3) / 2 and 1/4 (the hit ranked last of four).
    assert result.per_example.tolist() == pytest.approx([5 / 6, 1 / 4])
    assert result.mean == pytest.approx((5 / 6 + 1 / 4) / 2)
    assert result.name == "human_agreement_map"
    assert result.details == auprc(scores, gold).details


# --- confidence indication ------------------------------------------------------


class FixedLogits(nn.Module):
    """Returns a fixed row of logits for each example id (inputs[:, 0])."""

    def __init__(self, logits):
        super().__init__()
        self.table = logits

    def forward(self, inputs):
        return self.table[inputs[:, 0]]


def confidence_fixture(confidences, features):
    """Class 0 predicted with the given probability; class-0 attributions sum
    to ``features`` more than class-1 attributions."""
    p = torch.tensor(confidences, dtype=torch.float64)
    logits = torch.stack([torch.log(p / (1 - p)), torch.zeros_like(p)], dim=1)
    inputs = torch.arange(len(p)).unsqueeze(1).expand(-1, 3).contiguous()
    class_0 = torch.tensor(features, dtype=torch.float64).unsqueeze(1) * torch.tensor(
        [[0.5, 0.25, 0.25]], dtype=torch.float64
    )
    class_1 = torch.zeros_like(class_0)
    return FixedLogits(logits), inputs, [class_0, class_1]


def test_confidence_indication_by_hand():
    # x = (0, 1, 2, 3), y = (.6, .7, .8, .95); 4 folds = leave one out. Least
    # squares on the other three points, by hand:
    #   without x=0: slope .125, intercept .56667 -> predicts .56667: error 1/30
    #   without x=1: slope 4/35, intercept .59286 -> .70714: error 1/140
    #   without x=2: slope 33/280, intercept .59286 -> .82857: error 1/35
    #   without x=3: slope .1, intercept .6 -> .9: error 1/20
    model, inputs, attributions = confidence_fixture(
        [0.6, 0.7, 0.8, 0.95], [0.0, 1.0, 2.0, 3.0]
    )
    result = confidence_indication(model, inputs, attributions, n_folds=4)
    assert result.per_example.tolist() == pytest.approx(
        [1 / 30, 1 / 140, 1 / 35, 1 / 20]
    )
    assert result.name == "confidence_indication_mae"
    # The training mean predicts: |mean of the other three - y|.
    errors = [abs((3.05 - y) / 3 - y) for y in (0.6, 0.7, 0.8, 0.95)]
    assert result.details["baseline_mae"] == pytest.approx(sum(errors) / 4)


def test_difference_features_of_three_classes_by_hand():
    # One example, two words; explained class 1. Per word, class 1 minus the
    # others: word 0: (2-1, 2-4) = (1, -2); word 1: (0-3, 0-0) = (-3, 0).
    scores = torch.tensor([[[1.0, 3.0], [2.0, 0.0], [4.0, 0.0]]])
    valid = torch.tensor([[True, True]])
    features = _difference_features(scores, valid, torch.tensor([1]))
    # Sums over words of the max (1, 0), mean (-0.5, -1.5) and min (-2, -3).
    assert features.tolist() == [[1.0, -2.0, -5.0]]


def test_informative_attributions_beat_uninformative_ones():
    generator = torch.Generator().manual_seed(0)
    confidences = 0.55 + 0.4 * torch.rand(60, generator=generator, dtype=torch.float64)
    features = (10 * confidences).tolist()  # confidence is linear in them
    model, inputs, attributions = confidence_fixture(confidences.tolist(), features)
    good = confidence_indication(model, inputs, attributions)
    assert good.mean < 1e-9 < good.details["baseline_mae"]
    noise = [torch.randn(60, 3, generator=generator).double() for _ in range(2)]
    bad = confidence_indication(model, inputs, noise)
    assert bad.mean > 0.8 * bad.details["baseline_mae"]
    constant = [torch.ones(60, 3).double(), torch.zeros(60, 3).double()]
    flat = confidence_indication(model, inputs, constant)
    assert flat.mean == pytest.approx(flat.details["baseline_mae"])


def test_confidence_indication_checks_its_arguments():
    model, inputs, attributions = confidence_fixture([0.6, 0.7, 0.8], [0, 1, 2])
    with pytest.raises(ValueError, match="list of 2 tensors"):
        confidence_indication(model, inputs, attributions[:1], n_folds=3)
    with pytest.raises(ValueError, match="`n_folds` \\(5\\) must not exceed"):
        confidence_indication(model, inputs, attributions)
    with pytest.raises(ValueError, match="`n_folds` must be >= 2"):
        confidence_indication(model, inputs, attributions, n_folds=1)
    with pytest.raises(ValueError, match="`output` must be one of"):
        confidence_indication(model, inputs, attributions, n_folds=3, output="raw")


# --- rationale and dataset consistency --------------------------------------------


class Scaled(nn.Module):
    """Embeds every token as (c, c); its logits are the sum over tokens."""

    def __init__(self, c):
        super().__init__()
        self.embed = nn.Embedding(10, 2)
        nn.init.constant_(self.embed.weight, c)

    def forward(self, ids):
        return self.embed(ids).sum(dim=1)


def test_rationale_consistency_by_hand():
    # Activation distances of the pairs (0,1), (0,2), (1,2): |c_i - c_j| = 1, 3, 2.
    models = [Scaled(0.0), Scaled(1.0), Scaled(3.0)]
    inputs = torch.tensor([[1, 2, 3], [4, 5, 6]])
    # Every word of model k scores a_k: attribution distances |a_i - a_j|.
    a = torch.tensor([[0.0, 1.0, 3.0], [0.0, 2.0, 1.0]])  # (example, model)
    attributions = [a[:, k : k + 1].expand(2, 3).clone() for k in range(3)]
    result = rationale_consistency(models, inputs, attributions, layer_names=["embed"])
    # Example 0: distances (1, 3, 2) and (1, 3, 2): 1. Example 1: (1, 3, 2)
    # against (2, 1, 1): ranks (1, 3, 2) and (3, 1.5, 1.5): -1.5 / sqrt(2 * 1.5).
    assert result.per_example.tolist() == pytest.approx([1.0, -1.5 / math.sqrt(3)])
    # Pooled over the six points: ranks (1.5, 5.5, 3.5, 1.5, 5.5, 3.5) and
    # (2, 6, 4.5, 4.5, 2, 2): covariance 3, deviations 4 and sqrt(15).
    assert result.mean == pytest.approx(3 / (4 * math.sqrt(15)))
    assert result.n == 2 and result.details["pairs"] == 3
    assert result.ci_low <= result.mean <= result.ci_high


def test_rationale_consistency_on_bert_classifiers_restores_the_models():
    task = planted_keyword_task(n=12, seed=0)
    models = [tiny_bert_classifier(task.vocab_size, seed=s) for s in range(3)]
    forwards = [ClassifierForward(m) for m in models]
    generator = torch.Generator().manual_seed(0)
    attributions = [
        torch.rand(task.input_ids.shape, generator=generator) for _ in models
    ]
    result = rationale_consistency(
        forwards,
        task.input_ids,
        attributions,
        additional_forward_args=(task.attention_mask,),
        feature_mask=task.feature_mask,
        internal_batch_size=5,
    )
    assert result.details["layers"] == [
        "bert.encoder.layer.0",
        "bert.encoder.layer.1",
        "",
    ]
    assert -1 <= result.mean <= 1 and result.per_example.shape == (12,)
    assert not any(m._forward_hooks for model in models for m in model.modules())


def test_consistency_checks_its_arguments():
    models = [Scaled(0.0), Scaled(1.0)]
    inputs = torch.tensor([[1, 2, 3]])
    attributions = [torch.zeros(1, 3), torch.zeros(1, 3)]
    with pytest.raises(ValueError, match="at least two models"):
        rationale_consistency(
            models[:1], inputs, attributions[:1], layer_names=["embed"]
        )
    with pytest.raises(TypeError, match="must be a torch module or wrap one"):
        rationale_consistency([len, len], inputs, attributions, layer_names=["embed"])
    with pytest.raises(ValueError, match="not a module of Scaled"):
        rationale_consistency(models, inputs, attributions, layer_names=["nothing"])
    with pytest.raises(ValueError, match="No stack of layers"):
        rationale_consistency(models, inputs, attributions)
    with pytest.raises(ValueError, match="`pairs` must be an integer tensor"):
        dataset_consistency(models[0], inputs, attributions[0], torch.tensor([[0, 0]]))
    with pytest.raises(ValueError, match="`pairs` must index examples"):
        dataset_consistency(
            models[0], inputs, attributions[0], torch.tensor([[0, 1], [0, 0]])
        )
    with pytest.raises(TypeError, match="must be token ids"):
        dataset_consistency(
            models[0], torch.zeros(1, 3, 2), attributions[0], torch.zeros(2, 2).long()
        )


def test_vocabulary_distance_by_hand():
    # A = (5, 6, 7) scored (1, 2, 3); B = (5, 8, 8) scored (1, 4, 6). Per id:
    # 5: |1 - 1| = 0; 6: |2 - 0| = 2; 7: 3; 8: |0 - mean(4, 6)| = 5. Mean 2.5.
    inputs = torch.tensor([[5, 6, 7, 0], [5, 8, 8, 0]])
    scores = torch.tensor([[1.0, 2.0, 3.0, 9.0], [1.0, 4.0, 6.0, 9.0]]).double()
    included = inputs > 0  # padding does not count
    pairs = torch.tensor([[0, 1], [0, 0]])
    distance = vocabulary_distance(inputs, scores, included, pairs)
    assert distance.tolist() == pytest.approx([2.5, 0.0])


class IdEmbedding(nn.Module):
    """Embeds token id t as (t, 0); logits are the mean over tokens."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 2)
        with torch.no_grad():
            self.embed.weight.zero_()
            self.embed.weight[:, 0] = torch.arange(20.0)

    def forward(self, ids):
        return self.embed(ids).mean(dim=1)


def test_dataset_consistency_by_hand():
    model = IdEmbedding()
    inputs = torch.tensor([[1], [2], [4], [8]])
    # Mean-pooled activations (t, 0): pair distances |t_a - t_b| / 2.
    pairs = torch.tensor([[0, 1], [0, 2], [0, 3], [1, 3]])  # 0.5, 1.5, 3.5, 3
    # One word per input with scores s; different ids: distance |s_a| + |s_b|, / 2.
    scores = torch.tensor([[0.0], [1.0], [2.0], [4.0]])
    result = dataset_consistency(model, inputs, scores, pairs, layer_names=["embed"])
    # Attribution distances (0.5, 1, 2, 2.5): ranks (1, 2, 3, 4) against the
    # activations' (1, 2, 4, 3): 1 - 6 * 2 / (4 * 15) = 0.8.
    assert result.mean == pytest.approx(0.8)
    # Example 0 is in three pairs: its correlation is defined, the others' not.
    assert result.per_example[0].item() == pytest.approx(1.0)
    assert result.per_example[1:].isnan().all()
    reversed_scores = torch.tensor([[4.0], [2.0], [1.0], [0.0]])
    flipped = dataset_consistency(
        model, inputs, reversed_scores, pairs, layer_names=["embed"]
    )
    # Distances (3, 2.5, 2, 1): against (0.5, 1.5, 3.5, 3) ranks (4,3,2,1) vs
    # (1,2,4,3): r = -0.8.
    assert flipped.mean == pytest.approx(-0.8)


def test_consistency_pairs_pick_similar_and_dissimilar_inputs():
    inputs = torch.tensor([[5, 6, 0], [6, 5, 0], [5, 0, 0], [7, 0, 0]])
    labels = torch.tensor([0, 0, 1, 1])
    mask = torch.where(inputs > 0, torch.arange(3), -1)
    pairs = consistency_pairs(inputs, labels, n_pairs=2, feature_mask=mask)
    # Similar: same label, most shared ids: (0, 1). Dissimilar: different
    # labels, fewest shared: (0, 3) or (1, 3), both sharing none.
    assert pairs[0].tolist() == [0, 1]
    assert pairs[1].tolist() in ([0, 3], [1, 3])
    # Without the mask the padding id 0 would be shared by every pair.
    assert pairs.shape == (2, 2)


# --- cost ------------------------------------------------------------------------


def test_cost_meter_counts_model_passes():
    model = nn.Linear(4, 2)
    inputs = torch.randn(3, 4, requires_grad=True)
    with CostMeter(model) as meter:
        model(inputs)
        model(inputs).sum().backward()
        with torch.no_grad():
            model(inputs[:1])
    cost = meter.cost
    assert (cost.forward_calls, cost.forward_rows) == (3, 7)
    assert (cost.backward_calls, cost.backward_rows) == (1, 3)
    assert cost.seconds > 0
    assert not model._forward_hooks
    if cost.memory_source == "rss":
        assert cost.peak_memory_bytes >= 0


def test_cost_meter_sees_peak_memory():
    with CostMeter() as meter:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del block
    if meter.cost.memory_source == "unavailable":
        pytest.skip("no way to read peak memory on this platform")
    assert meter.cost.peak_memory_bytes >= 48 * 2**20


def test_cost_meter_removes_its_hook_when_the_block_raises():
    model = nn.Linear(4, 2)
    with pytest.raises(RuntimeError, match="boom"):
        with CostMeter(model):
            raise RuntimeError("boom")
    assert not model._forward_hooks
    with pytest.raises(RuntimeError, match="once the `with` block has ended"):
        CostMeter(model).cost


def test_attribution_cost_per_example():
    model = nn.Linear(4, 2)
    inputs = torch.randn(5, 4)

    def explain(rows):
        # Two forward passes and one backward pass of the batch.
        x = inputs[rows].clone().requires_grad_()
        model(x)
        (grad,) = torch.autograd.grad(model(x)[:, 0].sum(), x)
        return grad

    results = attribution_cost(explain, 5, model=model, batch_size=2)
    assert results["forward_passes"].per_example.tolist() == [2.0] * 5
    assert results["backward_passes"].per_example.tolist() == [1.0] * 5
    assert results["seconds"].n == 5 and results["seconds"].mean > 0
    assert set(results) == {
        "seconds",
        "forward_passes",
        "backward_passes",
        "peak_memory_bytes",
    }
    with pytest.raises(ValueError, match="`n_examples` must be >= 1"):
        attribution_cost(explain, 0, model=model)
    with pytest.raises(TypeError, match="`model` must be a torch module"):
        CostMeter("model")
