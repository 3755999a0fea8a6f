import pytest
import torch
from captum.attr import LayerGradientXActivation
from torch import nn

from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.metrics import model_randomization, randomization_stages
from captum_nlp_ext.testing import tiny_bert_classifier


@pytest.fixture(scope="module")
def trained(keyword_task):
    model, test = keyword_task
    return model, test.split(48)[0]


def gradient_x_input(task):
    def explain(model):
        method = LayerGradientXActivation(
            ClassifierForward(model), get_embedding_layer(model)
        )
        return method.attribute(
            task.input_ids,
            target=task.labels,
            additional_forward_args=(task.attention_mask,),
        )

    return explain


def test_stages_of_a_bert_classifier_run_from_the_head_down():
    model = tiny_bert_classifier(20)
    stages = randomization_stages(model)
    names = [name for name, _ in stages]
    assert names == [
        "head",
        "bert.encoder.layer.1",
        "bert.encoder.layer.0",
        "embeddings",
    ]
    head = dict(stages)["head"]
    assert "classifier.weight" in head and "bert.pooler.dense.weight" in head
    every = [p for _, params in stages for p in params]
    assert sorted(every) == sorted(n for n, _ in model.named_parameters())


def test_randomization_drops_the_rank_correlation_of_a_gradient_method(trained):
    model, task = trained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # transformers installs its own output-capturing hooks the first time hidden
    # states are requested (by any test): only the hooks we add must be gone.
    hooks_before = {n: dict(m._forward_hooks) for n, m in model.named_modules()}
    results = model_randomization(
        model, gradient_x_input(task), feature_mask=task.feature_mask
    )
    assert list(results) == [name for name, _ in randomization_stages(model)]
    means = [r.mean for r in results.values()]
    # Randomizing the head alone already changes the explanation, and once
    # every layer is random, little of the trained ranking is left.
    assert means[0] < 0.9
    assert means[-1] < 0.3 and results["embeddings"].ci_high < 0.5
    assert all(r.n == len(task) for r in results.values())
    # The user's model is untouched.
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert {n: dict(m._forward_hooks) for n, m in model.named_modules()} == (
        hooks_before
    )


def test_a_model_independent_explanation_keeps_a_perfect_correlation(trained):
    model, task = trained
    results = model_randomization(
        model, lambda m: task.input_ids.double(), feature_mask=task.feature_mask
    )
    for result in results.values():
        assert result.mean == pytest.approx(1.0)


class TwoLayers(nn.Module):
    """Explanations read off one layer's weights, to see which stages change."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.blocks = nn.ModuleList([nn.Linear(6, 6), nn.Linear(6, 6)])
        self.classifier = nn.Linear(6, 2)


def read_weights(name):
    return lambda model: dict(model.named_parameters())[name].detach()[:2].clone()


def test_cascading_randomizes_everything_above_independent_only_the_stage():
    model = TwoLayers()
    assert [name for name, _ in randomization_stages(model)] == [
        "head",
        "blocks.1",
        "blocks.0",
    ]
    explain = read_weights("classifier.weight")
    cascading = model_randomization(model, explain)
    independent = model_randomization(model, explain, mode="independent")
    assert all(r.mean < 0.99 for r in cascading.values())
    assert independent["head"].mean < 0.99
    assert independent["blocks.1"].mean == 1.0
    assert independent["blocks.0"].mean == 1.0
    # The cascade keeps the head's first draw: the same correlation throughout.
    values = [r.per_example for r in cascading.values()]
    assert all(torch.equal(v, values[0]) for v in values)


def test_reinitializations_are_seeded_and_keep_the_layer_scale():
    model = TwoLayers()
    explain = read_weights("blocks.0.weight")
    first = model_randomization(model, explain, seed=3)["blocks.0"]
    again = model_randomization(model, explain, seed=3)["blocks.0"]
    other = model_randomization(model, explain, seed=4)["blocks.0"]
    assert torch.equal(first.per_example, again.per_example)
    assert not torch.equal(first.per_example, other.per_example)

    drawn = []

    def record(m):
        drawn.append(m.blocks[0].weight.detach().clone())
        return drawn[-1][:2]

    model_randomization(model, record)
    trained_weight, random_weight = drawn[0], drawn[-1]
    assert not torch.equal(trained_weight, random_weight)
    assert random_weight.std().item() == pytest.approx(
        trained_weight.std().item(), rel=0.35
    )
    # PyTorch's own initialization through reset_parameters.
    before = explain(model)
    reset = model_randomization(
        model,
        explain,
        reinit="reset_parameters",
        stages=[("first", ["blocks.0.weight"])],
    )
    assert reset["first"].mean < 0.99
    assert torch.equal(explain(model), before)


def test_randomization_checks_its_arguments():
    model = TwoLayers()
    explain = read_weights("classifier.weight")
    with pytest.raises(ValueError, match="`mode` must be one of"):
        model_randomization(model, explain, mode="shuffled")
    with pytest.raises(ValueError, match="`reinit` must be one of"):
        model_randomization(model, explain, reinit="zeros")
    with pytest.raises(ValueError, match="unknown parameters"):
        model_randomization(model, explain, stages=[("x", ["nothing.weight"])])
    with pytest.raises(TypeError, match="list of \\(name, parameter names\\) pairs"):
        model_randomization(model, explain, stages=["classifier.weight"])
    shapes = iter([torch.zeros(2, 6), torch.zeros(2, 5)])
    with pytest.raises(ValueError, match="same shape for every model"):
        model_randomization(model, lambda m: next(shapes))
    with pytest.raises(ValueError, match="No stack of layers"):
        model_randomization(nn.Linear(3, 2), explain)
