"""Our methods in Captum Insights (captum 0.8).

The Insights tests run where captum 0.8's ``captum.insights`` imports (CI builds
such an environment, see ``.ci/run``) and skip elsewhere, unless
``CAPTUM_NLP_REQUIRE_INSIGHTS=1``, which turns the skip into a failure.
"""

import importlib
import importlib.util
import json
import os
from contextlib import contextmanager

import pytest
import torch
from torch import nn, Tensor

from captum_nlp_ext.attr import (
    LayerMaskOptimization,
    LayerNLGP,
    MaskOptimizationSettings,
)
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.insights import (
    insights_methods,
    InsightsMaskOptimization,
    InsightsNLGP,
    register_insights_methods,
    unregister_insights_methods,
)

# The baseline token; not [PAD], whose embedding BERT initialises to zeros.
MASK = 4


class EmbeddingsClassifier(nn.Module):
    """The model as Insights calls it: embeddings, then the attention mask."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, embeddings: Tensor, attention_mask: Tensor) -> Tensor:
        return self.model(
            inputs_embeds=embeddings, attention_mask=attention_mask
        ).logits


@pytest.fixture(scope="module")
def setup(keyword_task):
    """A trained classifier and four test examples (some padded)."""
    model, test = keyword_task
    ids, mask = test.input_ids[:4].clone(), test.attention_mask[:4].clone()
    return model, ids, mask


def _insights():
    """captum 0.8's Insights, or a skip (a failure when it is required)."""
    if os.environ.get("CAPTUM_NLP_REQUIRE_INSIGHTS") == "1":
        return importlib.import_module("captum.insights.attr_vis.app")
    return pytest.importorskip("captum.insights.attr_vis.app")


def _visualizer(model, ids, mask, with_baseline=True):
    app = _insights()
    from captum.insights.attr_vis.features import TextFeature

    embed = get_embedding_layer(model, "tokens")
    mask_embedding = embed(torch.tensor([MASK])).detach()
    feature = TextFeature(
        "Sentence",
        # Insights applies baseline transforms to the transformed (embedded) input.
        baseline_transforms=(
            [lambda e: mask_embedding.expand_as(e)] if with_baseline else None
        ),
        input_transforms=[lambda i: embed(i).detach()],
        visualization_transform=lambda i: [str(t) for t in i.reshape(-1).tolist()],
    )
    return app.AttributionVisualizer(
        models=[EmbeddingsClassifier(model)],
        classes=["negative", "positive"],
        features=[feature],
        dataset=[
            app.Batch(inputs=ids, labels=torch.zeros(len(ids)), additional_args=mask)
        ],
    )


def _insights_attribution(visualizer, ids, mask, method, arguments):
    """Attributions of each example through Insights' own calculation path."""
    calculation = visualizer.attribution_calculation
    model = visualizer.models[0]
    rows = []
    for i in range(len(ids)):
        inputs, args = (ids[i : i + 1],), (mask[i : i + 1],)
        scores, baselines, transformed = calculation.calculate_predicted_scores(
            inputs, args, model
        )
        (attributions,) = calculation.calculate_attribution(
            baselines,
            transformed,
            args,
            scores[0].index,
            method,
            dict(arguments),
            model,
        )
        rows.append(attributions)
    return torch.cat(rows)


def _direct(method_class, model, ids, mask, made=None, **kwargs):
    """Our method on token ids, perturbing the word embeddings, one by one as
    Insights runs examples, each at the batch's width as Insights' forward
    function does (it does not name an attention mask, so its passes keep the
    padding: ClassifierForward's would be cut, which moves NLGP's fit by more
    than rounding where the model is sure)."""
    forward = ClassifierForward(model)
    method = method_class(
        lambda *args: forward(*args), get_embedding_layer(model, "tokens"), **made or {}
    )
    return torch.cat(
        [
            method.attribute(
                ids[i : i + 1], additional_forward_args=(mask[i : i + 1],), **kwargs
            )
            for i in range(len(ids))
        ]
    )


def test_methods_appear_in_insights_list_with_their_settings(setup):
    model, ids, mask = setup
    visualizer = _visualizer(model, ids, mask)
    with insights_methods() as names:
        assert names == ["NLGP", "MaRC"]
        config = visualizer.get_insights_config()
        json.dumps(config)  # what the app's /init route sends
        assert {"NLGP", "MaRC", "Integrated Gradients"} <= set(config["methods"])
        nlgp = config["method_arguments"]["NLGP"]
        assert nlgp["n_samples"] == {"value": 256, "limit": (2, None), "type": "number"}
        assert nlgp["perturbation"]["limit"] == ["scale", "reference", "isotropic"]
        assert config["method_arguments"]["MaRC"]["max_steps"]["value"] == 900
    config = visualizer.get_insights_config()
    assert "NLGP" not in config["methods"]
    assert "NLGP" not in config["method_arguments"]


def test_registration_is_idempotent_and_context_keeps_prior_registration():
    _insights()
    from captum.insights.attr_vis import config

    methods = dict(config.ATTRIBUTION_NAMES_TO_METHODS)
    try:
        assert register_insights_methods(["nlgp"]) == ["NLGP"]
        assert register_insights_methods(["nlgp"]) == ["NLGP"]
        assert len(config.ATTRIBUTION_NAMES_TO_METHODS) == len(methods) + 1
        with insights_methods() as names:
            assert config.ATTRIBUTION_NAMES_TO_METHODS["MaRC"] is (
                InsightsMaskOptimization
            )
        assert names == ["NLGP", "MaRC"]
        assert config.ATTRIBUTION_NAMES_TO_METHODS["NLGP"] is InsightsNLGP
        assert "MaRC" not in config.ATTRIBUTION_NAMES_TO_METHODS
    finally:
        unregister_insights_methods()
    assert config.ATTRIBUTION_NAMES_TO_METHODS == methods


def test_name_taken_by_another_method_is_an_error():
    _insights()
    from captum.insights.attr_vis import config

    config.ATTRIBUTION_NAMES_TO_METHODS["NLGP"] = LayerNLGP
    try:
        with pytest.raises(ValueError, match="already has a method named 'NLGP'"):
            register_insights_methods(["marc", "nlgp"])
        assert "MaRC" not in config.ATTRIBUTION_NAMES_TO_METHODS  # nothing half-done
    finally:
        del config.ATTRIBUTION_NAMES_TO_METHODS["NLGP"]


@contextmanager
def _server(visualizer):
    """A client of Insights' web server (the routes its frontend calls)."""
    from captum.insights.attr_vis import server

    previous, server.visualizer = server.visualizer, visualizer
    try:
        yield server.app.test_client()
    finally:
        server.visualizer = previous


# /fetch batches the raw token ids with Captum's gradient-method helper.
@pytest.mark.filterwarnings("ignore:It looks like that the attribution")
def test_nlgp_in_insights_app_matches_our_method(setup):
    model, ids, mask = setup
    visualizer = _visualizer(model, ids, mask)
    # Insights' form fields may send numbers as strings.
    arguments = {"n_samples": "24", "stdevs": 0.3, "perturbation": "scale", "seed": 0}
    with insights_methods(["nlgp"]), _server(visualizer) as client:
        got = _insights_attribution(visualizer, ids, mask, "NLGP", arguments)
        assert "NLGP" in client.get("/init").get_json()["methods"]
        settings = {"arguments": arguments, "prediction": "all", "classes": []}
        fetched = client.post("/fetch", json={"attribution_method": "NLGP", **settings})
        first = {"inputIndex": 0, "modelIndex": 0, "labelIndex": 0}
        class_0 = client.post("/attribute", json=first)
    expected = _direct(
        LayerNLGP,
        model,
        ids,
        mask,
        made=dict(perturbation="scale"),
        n_samples=24,
        stdevs=0.3,
        seed=0,
    )
    assert got.shape == ids.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    # The app shows each example's attributions scaled to [-100, 100].
    outputs = fetched.get_json()
    assert fetched.status_code == 200 and len(outputs) == len(ids)
    for output, row in zip(outputs, expected):
        (feature,) = output[0]["feature_outputs"]
        assert len(feature["base"]) == ids.shape[1]
        _assert_shown(feature["modified"], row)
    # Clicking another class explains that class.
    assert class_0.status_code == 200
    (feature,) = class_0.get_json()["feature_outputs"]
    row = _direct(
        LayerNLGP,
        model,
        ids[:1],
        mask[:1],
        target=0,
        made=dict(perturbation="scale"),
        n_samples=24,
        stdevs=0.3,
        seed=0,
    )[0]
    _assert_shown(feature["modified"], row)


def _assert_shown(modified, attributions):
    shown = torch.tensor(modified, dtype=attributions.dtype)
    scaled = 100 * attributions / attributions.abs().max()
    torch.testing.assert_close(shown, scaled, atol=1e-3, rtol=1e-3)


def test_nlgp_reference_perturbation_moves_toward_insights_baseline(setup):
    model, ids, mask = setup
    visualizer = _visualizer(model, ids[:2], mask[:2])
    arguments = {"n_samples": 16, "perturbation": "reference", "seed": 0}
    with insights_methods(["nlgp"]):
        got = _insights_attribution(visualizer, ids[:2], mask[:2], "NLGP", arguments)
    token = get_embedding_layer(model, "tokens")(torch.tensor([[MASK]])).detach()
    expected = _direct(
        LayerNLGP,
        model,
        ids[:2],
        mask[:2],
        made=dict(perturbation="reference"),
        n_samples=16,
        baselines=token.expand(1, ids.shape[1], -1),
        seed=0,
    )
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("with_baseline", [True, False])
def test_marc_in_visualizer_masks_toward_insights_baseline(setup, with_baseline):
    model, ids, mask = setup
    ids, mask = ids[2:], mask[2:]
    visualizer = _visualizer(model, ids, mask, with_baseline=with_baseline)
    arguments = {"max_steps": 30.0, "lr": 0.1, "seed": 0}
    with insights_methods(["marc"]):
        got = _insights_attribution(visualizer, ids, mask, "MaRC", arguments)
    # With the baseline transform, [MASK] everywhere; without one, Insights'
    # baseline is zero embeddings.
    reference = MASK
    if not with_baseline:
        reference = torch.zeros(1, ids.shape[1], model.config.hidden_size)
    expected = _direct(
        LayerMaskOptimization,
        model,
        ids,
        mask,
        made=dict(settings=MaskOptimizationSettings(lr=0.1)),
        baselines=reference,
        max_steps=30,
        seed=0,
    )
    assert got.shape == ids.shape
    assert ((got >= 0) & (got <= 1)).all()
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-3)


# Without Insights (captum 0.9): the adapters themselves, and the clear error.


def test_adapter_called_as_insights_calls_it_matches_our_method(setup):
    model, ids, mask = setup
    embeddings = get_embedding_layer(model, "tokens")(ids).detach()
    adapter = InsightsNLGP(EmbeddingsClassifier(model))
    got = adapter.attribute.__wrapped__(
        adapter,
        (embeddings,),
        baselines=(torch.zeros_like(embeddings),),
        target=torch.tensor(1),
        additional_forward_args=(mask,),
        n_samples=16,
        seed=3,
    )
    assert isinstance(got, tuple) and len(got) == 1
    expected = LayerNLGP(
        ClassifierForward(model), get_embedding_layer(model, "tokens")
    ).attribute(ids, target=1, additional_forward_args=(mask,), n_samples=16, seed=3)
    torch.testing.assert_close(got[0], expected, atol=1e-5, rtol=1e-4)
    assert InsightsNLGP.get_name() == "NLGP"
    assert InsightsMaskOptimization.get_name() == "MaRC"


def test_adapter_rejects_token_ids_and_several_features(setup):
    model, ids, mask = setup
    adapter = InsightsMaskOptimization(EmbeddingsClassifier(model))
    with pytest.raises(ValueError, match="`inputs` must be embeddings"):
        adapter.attribute((ids,), additional_forward_args=(mask,))
    embeddings = get_embedding_layer(model, "tokens")(ids).detach()
    with pytest.raises(ValueError, match="`inputs` must hold one tensor"):
        adapter.attribute((embeddings, embeddings), additional_forward_args=(mask,))


@pytest.mark.parametrize(
    "methods, error, message",
    [
        (["im"], ValueError, "'im' cannot run in Insights .*token ids"),
        (["lafa"], ValueError, "'lafa' cannot run in Insights .*ReferenceIndex"),
        (["nlgp", "lime"], ValueError, "unknown method 'lime'"),
        ("nlgp", TypeError, "sequence of method names"),
    ],
)
def test_unavailable_methods_are_named(methods, error, message):
    with pytest.raises(error, match=message):
        register_insights_methods(methods)


def test_without_insights_registration_points_to_the_report():
    if importlib.util.find_spec("captum.insights") is not None:
        pytest.skip("captum.insights is installed (captum <= 0.8)")
    for call in (
        register_insights_methods,
        unregister_insights_methods,
        insights_methods().__enter__,
    ):
        with pytest.raises(
            ImportError, match="removed in captum 0.9.*captum-nlp report"
        ):
            call()
