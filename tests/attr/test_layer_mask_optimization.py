import math
from dataclasses import fields, replace

import pytest
import torch

from captum_nlp_ext._utils.hooks import forward_with_layer_output
from captum_nlp_ext._utils.windows import make_rows
from captum_nlp_ext.attr import LayerMaskOptimization, MaskOptimizationSettings
from captum_nlp_ext.attr._utils import mask_optimization as marc
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.testing import (
    keyword_conjunction_task,
    negated_keyword_task,
    tiny_bert_classifier,
    train_classifier,
)
from captum_nlp_ext.testing.synthetic import CLS, PAD, SEP

# Few steps, and fast enough for the keyword's mask to cross the model's decision
# boundary, so that every loss term and the noise shape the result.
FIT = MaskOptimizationSettings(check_every=5, lr=0.1)
FAST = dict(max_steps=12, seed=0)
# What a test may change besides FIT: the constructor's knobs.
CONSTRUCTOR = {f.name for f in fields(MaskOptimizationSettings)} | {
    "window_size",
    "window_overlap",
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny models: on a shared CPU, thread hand-offs cost more than the maths.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(keyword_task):
    return keyword_task


def explainer(model, fit=FIT, **kwargs):
    """The method with the fast settings; settings given here replace them."""
    changes = {k: kwargs.pop(k) for k in list(kwargs) if k in fit.__dataclass_fields__}
    forward = ClassifierForward(model)
    return LayerMaskOptimization(
        forward,
        get_embedding_layer(model, kind="full"),
        settings=replace(fit, **changes),
        **kwargs,
    )


def explain(model, task, rows=slice(None), **kwargs):
    """The fast settings, changed by ``kwargs`` (constructor's or call's)."""
    made = {k: kwargs.pop(k) for k in list(kwargs) if k in CONSTRUCTOR}
    return explainer(model, **made).attribute(
        task.input_ids[rows],
        additional_forward_args=(task.attention_mask[rows],),
        feature_mask=task.feature_mask[rows],
        **{**FAST, **kwargs},
    )


# The parametrization and the loss terms, against hand computations.


def test_gaussian_mask_matches_the_formula():
    weight = torch.tensor([[1.0, -2.0, 0.5, 9.0]])
    width = torch.tensor([[2.0, 0.5, 1.5, 3.0]])
    valid = torch.tensor([[True, True, True, False]])
    expected = [
        1
        / (
            1
            + math.exp(
                -sum(
                    weight[0, k].item()
                    * math.exp(-((j - k) ** 2) / width[0, k].item() ** 2)
                    for k in range(3)
                )
            )
        )
        for j in range(3)
    ]
    mask = marc.gaussian_mask(weight, width, valid)
    assert mask.shape == (1, 4)
    assert torch.allclose(mask[0, :3], torch.tensor(expected), atol=1e-6)
    assert mask[0, 3] == 0


def test_gaussian_mask_with_narrow_widths_is_a_per_word_mask():
    weight = torch.tensor([[2.0, -1.0, 0.3], [0.7, 0.0, 0.0]])
    valid = torch.tensor([[True, True, True], [True, False, False]])
    mask = marc.gaussian_mask(weight, torch.full_like(weight, 1e-3), valid)
    assert torch.allclose(mask, torch.sigmoid(weight) * valid)
    wide = marc.gaussian_mask(weight, torch.full_like(weight, 1e3), valid)
    # Infinitely wide bumps: every word sees the sum of all weights.
    assert torch.allclose(wide[0], torch.sigmoid(weight[0].sum()).expand(3))


def test_regularizers_by_hand():
    masks = torch.tensor([[0.2, 0.6, 0.9], [0.5, 0.0, 0.0]])
    width = torch.tensor([[1.0, 2.0, 4.0], [0.5, 7.0, 7.0]])
    valid = torch.tensor([[True, True, False], [True, False, False]])
    compactness, width_prior = marc.regularizers(masks, width, valid)
    assert torch.allclose(compactness, torch.tensor([0.4**2, 0.5**2]))
    assert torch.allclose(
        width_prior, torch.tensor([-(math.log(1) + math.log(2)) / 2, -math.log(0.5)])
    )


def test_classification_losses_average_window_probabilities():
    masked = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
    complement = torch.tensor([[0.3, 0.3, 0.4], [0.6, 0.2, 0.2], [0.2, 0.5, 0.3]])
    group = torch.tensor([0, 0, 1])
    target = torch.tensor([0, 2])
    sufficiency, comprehensiveness = marc.classification_losses(
        masked.log(), complement.log(), group, target
    )
    assert torch.allclose(
        sufficiency, torch.tensor([-math.log((0.7 + 0.5) / 2), -math.log(0.8)])
    )
    assert torch.allclose(
        comprehensiveness,
        torch.tensor([-math.log(1 - (0.3 + 0.6) / 2), -math.log(1 - 0.3)]),
    )


def test_single_logit_is_a_sigmoid_over_two_classes():
    z = torch.tensor([[2.0], [-1.0]])
    log_probs = marc.log_probabilities(z, "auto")
    assert torch.allclose(log_probs[:, 1].exp(), torch.sigmoid(z[:, 0]))
    assert torch.allclose(log_probs[:, 0].exp(), 1 - torch.sigmoid(z[:, 0]))
    assert torch.allclose(marc.log_probabilities(z[:, 0], "sigmoid"), log_probs)
    with pytest.raises(ValueError, match="classifier.*softmax"):
        marc.log_probabilities(z, "softmax")
    with pytest.raises(ValueError, match="classifier.*sigmoid"):
        marc.log_probabilities(torch.zeros(2, 3), "sigmoid")


@pytest.mark.parametrize(
    "mean, previous, step, stop",
    [
        (0.25, 0.252, 250, True),  # settled, late, small
        (0.25, 0.252, 150, True),  # settled and below 0.3: early is fine
        (0.35, 0.352, 150, False),  # settled but too early for a mean >= 0.3
        (0.35, 0.352, 200, True),
        (0.35, 0.36, 250, False),  # moved by 0.01 >= 1/200
        (0.15, 0.16, 100, True),  # sparse: 0.01 < 1/80 is settled enough
        (0.15, 0.17, 100, False),  # sparse, but moved by 0.02 >= 1/80
        (0.46, 0.46, 800, False),  # settled but too dense
    ],
)
def test_stopping_rule(mean, previous, step, stop):
    result = marc.stopping_rule(torch.tensor([mean]), torch.tensor([previous]), step)
    assert bool(result[0]) is stop


def test_ranking_rule_by_hand():
    masks = torch.tensor(
        [[0.1, 0.5, 0.9, 0.0], [0.1, 0.5, 0.9, 0.3], [0.7, 0.2, 0.0, 0.0]]
    )
    previous = torch.tensor(
        # the same order, shifted; two neighbours swapped (rho 0.8); two units
        [[0.3, 0.6, 0.7, 0.9], [0.1, 0.5, 0.9, 0.6], [0.6, 0.4, 0.0, 0.0]]
    )
    valid = torch.tensor(
        [[True, True, True, False], [True] * 4, [True, True, False, False]]
    )
    assert marc.ranking_rule(masks, previous, valid).tolist() == [True, False, True]
    swapped = torch.tensor([[0.1, 0.5, 0.9, 0.0]] * 3)
    swapped[2] = torch.tensor([0.1, 0.5, 0.0, 0.0])
    assert marc.ranking_rule(masks, swapped, valid).tolist()[2] is False


def _steps(model, task, rows, **kwargs):
    """Optimization steps taken (each one backward pass here)."""
    from captum_nlp_ext.metrics import CostMeter

    with CostMeter(model) as meter:
        explain(model, task, rows, **kwargs)
    return meter.cost.backward_calls


def test_the_ranking_rule_stops_where_the_papers_rule_runs_on(trained):
    model, task = trained
    rows = slice(0, 4)
    # The defaults (checks every 25 steps; the paper's rule every 50).
    settings = dict(max_steps=300, lr=0.03, width_weight=1.2, check_every=None)
    ranking = _steps(model, task, rows, **settings)
    paper = _steps(model, task, rows, stopping_rule="paper", **settings)
    off = _steps(model, task, rows, early_stopping=False, **settings)
    assert off == 300
    assert ranking < paper <= off
    assert ranking % 25 == 0
    with pytest.raises(ValueError, match="stopping_rule"):
        explain(model, task, rows, stopping_rule="early")


# The method on a model.


def _evidence_first_where_it_decides(model, task, **kwargs):
    """Share of the sentences whose evidence decides the prediction (it flips
    without it) where a word of the evidence has the highest mask."""
    forward = ClassifierForward(model)
    with torch.no_grad():
        predicted = forward(task.input_ids, task.attention_mask).argmax(1)
        without = torch.where(task.evidence, PAD, task.input_ids)
        decided = forward(without, task.attention_mask).argmax(1) != predicted
    # Only where the evidence decides can a faithful mask find it.
    assert int(decided.sum()) >= 8
    # The defaults, but for the settings given.
    attributions = explainer(model, MaskOptimizationSettings(), **kwargs).attribute(
        task.input_ids[decided],
        additional_forward_args=(task.attention_mask[decided],),
        feature_mask=task.feature_mask[decided],
        seed=0,
    )
    scores = attributions.masked_fill(task.feature_mask[decided] < 0, -1.0)
    top = scores.argmax(1)
    return float(task.evidence[decided][torch.arange(len(top)), top].float().mean())


def test_planted_keyword_has_the_highest_mask_at_the_defaults(trained):
    model, task = trained
    task, _ = task.split(32)
    assert _evidence_first_where_it_decides(model, task) >= 0.9


@pytest.mark.parametrize(
    "make",
    [
        lambda: keyword_conjunction_task(n=700, seed=0),
        lambda: negated_keyword_task(
            n=700, n_fillers=10, min_words=3, max_words=6, seed=0
        ),
    ],
    ids=["conjunction", "negation"],
)
def test_planted_tasks_are_solved_at_the_defaults(make):
    task = make()
    train, test = task.split(600)
    model = tiny_bert_classifier(task.vocab_size, seed=0)
    assert train_classifier(model, train, steps=300) > 0.95
    assert _evidence_first_where_it_decides(model, test) >= 0.9


def test_the_papers_width_weight_flattens_short_sentences(trained):
    # The width prior at the paper's weight on every length (prior_length=None)
    # spreads the keyword's weight over 5-12 word sentences; scaled to the
    # sentence's length (the default) it does not.
    model, task = trained
    task, _ = task.split(32)
    paper = _evidence_first_where_it_decides(model, task, prior_length=None)
    assert paper < 0.7
    off = _evidence_first_where_it_decides(model, task, width_weight=0.0)
    assert off >= 0.9


def test_shapes_range_and_excluded_tokens(trained):
    model, task = trained
    attributions = explain(model, task, slice(0, 3))
    included = task.feature_mask[:3] >= 0
    assert attributions.shape == task.input_ids[:3].shape
    assert bool((attributions[~included] == 0).all())
    assert bool(((attributions[included] > 0) & (attributions[included] < 1)).all())


def test_tokens_of_a_word_share_its_value(trained):
    model, task = trained
    feature_mask = task.feature_mask[:2].clone()
    feature_mask[:, 2] = feature_mask[:, 1]  # words 0 and 1 form one unit
    attributions = explainer(model).attribute(
        task.input_ids[:2],
        additional_forward_args=(task.attention_mask[:2],),
        feature_mask=feature_mask,
        **FAST,
    )
    assert torch.equal(attributions[:, 1], attributions[:, 2])


def test_batched_equals_one_by_one_with_a_seed(trained):
    model, task = trained
    batched = explain(model, task, slice(0, 4), max_steps=20, seed=3)
    for i in range(4):
        alone = explain(model, task, slice(i, i + 1), max_steps=20, seed=3)
        assert torch.allclose(batched[i], alone[0], atol=1e-5)
    other_seed = explain(model, task, slice(0, 4), max_steps=20, seed=4)
    assert not torch.allclose(batched, other_seed, atol=1e-3)
    # Trimmed of the batch's padding, an example gets the same mask too.
    length = int(task.attention_mask[1].sum())
    trimmed = explainer(model).attribute(
        task.input_ids[1:2, :length],
        additional_forward_args=(task.attention_mask[1:2, :length],),
        feature_mask=task.feature_mask[1:2, :length],
        **{**FAST, "max_steps": 20, "seed": 3},
    )
    assert torch.allclose(batched[1, :length], trimmed[0], atol=1e-4)


def test_internal_batch_size_accumulates_the_same_step(trained):
    model, task = trained
    whole = explain(model, task, slice(0, 3))
    split = explain(model, task, slice(0, 3), internal_batch_size=1)
    assert torch.allclose(whole, split, atol=1e-5)


def test_a_stopped_example_is_frozen_while_others_continue(trained, monkeypatch):
    model, task = trained
    unpatched = marc.ranking_rule

    def stop_the_first(masks, previous, valid):
        stop = torch.zeros(masks.shape[0], dtype=torch.bool)
        stop[0] = True
        return stop

    monkeypatch.setattr(marc, "ranking_rule", stop_the_first)
    # Stopped at the first check past 50 steps.
    batched = explain(model, task, slice(0, 2), max_steps=70, check_every=25)
    monkeypatch.setattr(marc, "ranking_rule", unpatched)
    first = explain(model, task, slice(0, 1), max_steps=50, early_stopping=False)
    second = explain(model, task, slice(1, 2), max_steps=70, early_stopping=False)
    # 50-70 steps at lr 0.1 carry the batch's rounding into the 4th decimal.
    assert torch.allclose(batched[0], first[0], atol=1e-3)
    assert torch.allclose(batched[1], second[0], atol=1e-3)
    # Stopping made a difference: 70 steps move the first example further.
    seventy = explain(model, task, slice(0, 1), max_steps=70, early_stopping=False)
    assert not torch.allclose(batched[0], seventy[0], atol=1e-2)


def test_passes_drop_the_padding_of_the_batch(trained):
    model, task = trained
    forward = ClassifierForward(model)
    shapes = []

    def spy(input_ids, attention_mask):
        shapes.append(tuple(input_ids.shape))
        return forward(input_ids, attention_mask)

    spy.model = model
    lengths = task.attention_mask[:3].sum(1).tolist()
    LayerMaskOptimization(spy, get_embedding_layer(model, "full")).attribute(
        task.input_ids[:3],
        additional_forward_args=(task.attention_mask[:3],),
        feature_mask=task.feature_mask[:3],
        max_steps=1,
        internal_batch_size=1,
    )
    width = task.input_ids.shape[1]
    longest_first = sorted(lengths, reverse=True)
    assert shapes == [(3, width), (3, width)] + [(2, n) for n in longest_first]


def test_sigmoid_classifier_equals_its_softmax_twin(trained):
    model, task = trained
    forward = ClassifierForward(model)

    def one_logit(input_ids, attention_mask):
        logits = forward(input_ids, attention_mask)
        return logits[:, 1:] - logits[:, :1]

    layer = get_embedding_layer(model, kind="full")
    args = dict(
        additional_forward_args=(task.attention_mask[:3],),
        feature_mask=task.feature_mask[:3],
        target=[0, 1, 1],
        **FAST,
    )
    sigmoid = LayerMaskOptimization(
        one_logit, layer, settings=FIT, pad_token_id=PAD
    ).attribute(task.input_ids[:3], **args)
    softmax = explainer(model).attribute(task.input_ids[:3], **args)
    assert torch.allclose(sigmoid, softmax, atol=1e-5)


def test_references_given_in_every_form_agree(trained):
    model, task = trained
    ids, mask = task.input_ids[:2], task.attention_mask[:2]
    reference_ids = torch.where(task.feature_mask[:2] >= 0, PAD, ids)
    layer = get_embedding_layer(model, kind="full")
    forward = ClassifierForward(model)
    _, reference_output = forward_with_layer_output(
        forward, layer, reference_ids, (mask,)
    )
    results = [
        explainer(model).attribute(
            ids,
            additional_forward_args=(mask,),
            feature_mask=task.feature_mask[:2],
            baselines=reference,
            **FAST,
        )
        for reference in (None, PAD, reference_ids, reference_output)
    ]
    for result in results[1:]:
        assert torch.allclose(results[0], result, atol=1e-6)


def test_a_token_reference_replaces_words_and_keeps_specials(trained):
    model, task = trained
    forward = ClassifierForward(model)
    seen = []

    def spy(input_ids, attention_mask):
        seen.append(input_ids)
        return forward(input_ids, attention_mask)

    spy.model = model
    LayerMaskOptimization(spy, get_embedding_layer(model, "full")).attribute(
        task.input_ids[:2],
        additional_forward_args=(task.attention_mask[:2],),
        feature_mask=task.feature_mask[:2],
        baselines=CLS,
        max_steps=1,
    )
    words = task.feature_mask[:2] >= 0
    assert torch.equal(seen[1], torch.where(words, CLS, task.input_ids[:2]))


def test_embeddings_as_inputs(trained):
    model, task = trained
    ids, mask = task.input_ids[:2], task.attention_mask[:2]
    word_embeddings = model.get_input_embeddings()(ids).detach()
    layer = get_embedding_layer(model, kind="full")
    reference_ids = torch.where(task.feature_mask[:2] >= 0, PAD, ids)
    _, reference_output = forward_with_layer_output(
        ClassifierForward(model), layer, reference_ids, (mask,)
    )
    from_embeddings = explainer(model).attribute(
        word_embeddings,
        additional_forward_args=(mask,),
        feature_mask=task.feature_mask[:2],
        baselines=reference_output,
        **FAST,
    )
    from_ids = explain(model, task, slice(0, 2))
    assert torch.allclose(from_embeddings, from_ids, atol=1e-5)
    with pytest.raises(ValueError, match="embeddings as `inputs`"):
        explainer(model).attribute(word_embeddings, feature_mask=task.feature_mask[:2])


# Long inputs.


def long_example(words: int, padding: int = 0):
    ids = torch.cat(
        [
            torch.tensor([CLS]),
            10 + torch.arange(words) % 30,
            torch.tensor([SEP]),
            torch.full((padding,), PAD),
        ]
    )
    feature_mask = torch.cat(
        [torch.tensor([-1]), torch.arange(words), torch.full((1 + padding,), -1)]
    )
    return ids.unsqueeze(0), feature_mask.unsqueeze(0)


def test_windows_keep_specials_cover_the_body_and_blend_to_one():
    ids, feature_mask = long_example(50, padding=7)
    rows = make_rows(ids, feature_mask >= 0, 20, 6, PAD)
    window_ids = rows.cut(ids, PAD)
    assert window_ids.shape[1] <= 20
    assert bool((window_ids[:, 0] == CLS).all())
    for row in range(len(rows)):
        body = rows.position[row][rows.position[row] >= 0]
        assert ids[0, body[-1]] == SEP  # padding is dropped, [SEP] kept
    merged = rows.merge(torch.ones(rows.position.shape), 1, ids.shape[1])
    body = feature_mask[0] >= 0
    assert torch.allclose(merged[0, body], torch.ones(50))
    assert bool((merged[0, ~body] == 0).all())
    # Consecutive windows share at least the overlap; the blend is linear there.
    starts = [int(rows.position[r, 1]) for r in range(len(rows))]
    ends = [int(rows.position[r][rows.position[r] >= 0][-2]) for r in range(len(rows))]
    assert all(ends[w] - starts[w + 1] + 1 >= 6 for w in range(len(rows) - 1))
    first = rows.blend[0, 1:-1][rows.position[0, 1:-1] >= starts[1]]
    steps = first[1:] - first[:-1]
    assert torch.allclose(steps, steps[0].expand_as(steps), atol=1e-6)
    assert float(steps[0]) < 0


def test_short_inputs_are_not_cut():
    ids, feature_mask = long_example(10)
    rows = make_rows(ids, feature_mask >= 0, 64, 6, PAD)
    assert len(rows) == 1 and torch.equal(rows.cut(ids, PAD), ids)


def test_long_input_through_windows():
    torch.manual_seed(0)
    model = tiny_bert_classifier(40, max_position_embeddings=24)
    ids, feature_mask = long_example(50)
    short_ids, short_mask = long_example(8, padding=42)
    ids = torch.cat([ids, short_ids])
    feature_mask = torch.cat([feature_mask, short_mask])
    attention = (ids != PAD).long()
    with pytest.raises(Exception):  # too long for the position embeddings
        explainer(model).attribute(ids, (attention,), feature_mask=feature_mask, **FAST)
    method = explainer(model, window_size=24, window_overlap=8)
    attributions = method.attribute(
        ids,
        additional_forward_args=(attention,),
        feature_mask=feature_mask,
        **FAST,
    )
    included = feature_mask >= 0
    assert attributions.shape == ids.shape
    assert bool((attributions[~included] == 0).all())
    assert bool(((attributions[included] > 0) & (attributions[included] < 1)).all())
    alone = method.attribute(
        short_ids[:, :10],
        additional_forward_args=(attention[1:, :10],),
        feature_mask=short_mask[:, :10],
        **FAST,
    )
    assert torch.allclose(attributions[1, :10], alone[0], atol=1e-4)
    overlapping = explainer(model, window_size=24, window_overlap=22)
    with pytest.raises(ValueError, match="window_overlap"):
        overlapping.attribute(ids, (attention,), feature_mask=feature_mask, **FAST)


# The model is left as it was.


def test_model_untouched(trained):
    model, task = trained
    model.zero_grad(set_to_none=True)
    model.train()
    model.classifier.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    layer = get_embedding_layer(model, kind="full")
    try:
        explain(model, task, slice(0, 2))
        assert model.training
        assert all(p.grad is None for p in model.parameters())
        for key, value in model.state_dict().items():
            assert torch.equal(value, before[key])
        assert flags == {n: p.requires_grad for n, p in model.named_parameters()}
        assert not layer._forward_hooks
    finally:
        model.classifier.weight.requires_grad_(True)
        model.eval()


def test_state_restored_when_forward_raises(trained):
    model, task = trained
    forward = ClassifierForward(model)
    calls = []

    def failing(input_ids, attention_mask):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("boom")
        return forward(input_ids, attention_mask)

    failing.model = model  # lets the method find the module to freeze
    layer = get_embedding_layer(model, kind="full")
    with pytest.raises(RuntimeError, match="boom"):
        LayerMaskOptimization(failing, layer, settings=FIT).attribute(
            task.input_ids[:2],
            additional_forward_args=(task.attention_mask[:2],),
            feature_mask=task.feature_mask[:2],
            **FAST,
        )
    assert len(calls) == 4
    assert all(p.requires_grad for p in model.parameters())
    assert not layer._forward_hooks


# Bad input.


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(sufficiency_weight=-1.0), ValueError, "sufficiency_weight"),
        (dict(compactness_weight=-0.1), ValueError, "compactness_weight"),
        (dict(width_weight=-1), ValueError, "width_weight"),
        (
            dict(sufficiency_weight=0.0, comprehensiveness_weight=0.0),
            ValueError,
            "both 0",
        ),
        (dict(p_zero=0.6, p_one=0.6), ValueError, "p_zero"),
        (dict(initial_width=0.0), ValueError, "initial_width"),
        (dict(max_steps=0), ValueError, "max_steps"),
        (dict(classifier="tanh"), ValueError, "classifier"),
        (dict(classifier="sigmoid"), ValueError, "classifier"),
        (dict(window_overlap=-1), ValueError, "window_overlap"),
        (dict(baselines=torch.zeros(2, 5, dtype=torch.long)), ValueError, "length"),
        (dict(baselines=torch.zeros(2, 14, 7)), ValueError, "baselines"),
        (dict(baselines="pad"), TypeError, "baselines"),
        (dict(target=2), ValueError, "target"),
    ],
)
def test_bad_arguments(trained, kwargs, error, match):
    model, task = trained
    with pytest.raises(error, match=match):
        explain(model, task, slice(0, 2), **kwargs)


def test_all_words_special_is_refused(trained):
    model, task = trained
    with pytest.raises(ValueError, match="feature_mask"):
        explainer(model).attribute(
            task.input_ids[:2],
            additional_forward_args=(task.attention_mask[:2],),
            feature_mask=torch.full_like(task.input_ids[:2], -1),
        )


def test_missing_pad_token_id_is_explained(trained):
    model, task = trained
    forward = ClassifierForward(model)

    def anonymous(input_ids, attention_mask):
        return forward(input_ids, attention_mask)

    method = LayerMaskOptimization(anonymous, get_embedding_layer(model, "full"))
    with pytest.raises(ValueError, match="pad_token_id"):
        method.attribute(
            task.input_ids[:1],
            additional_forward_args=(task.attention_mask[:1],),
            feature_mask=task.feature_mask[:1],
        )
    with pytest.raises(ValueError, match="pad_token_id"):
        LayerMaskOptimization(anonymous, get_embedding_layer(model), pad_token_id=-1)


def test_passes_group_like_lengths_with_little_padding(trained):
    from captum_nlp_ext.metrics import CostMeter

    model, task = trained
    rows = slice(0, 32)
    costs = []
    for steps in (3, 13):
        with CostMeter(model) as meter:
            explain(model, task, rows, max_steps=steps, early_stopping=False)
        costs.append(meter.cost)
    # The ten extra steps alone (the first forward passes are the batch's own).
    tokens = costs[1].tokens - costs[0].tokens
    padding = costs[1].padding_tokens - costs[0].padding_tokens
    lengths = task.attention_mask[rows].sum(1)
    # One pass of all 64 rows would pad every row to the longest.
    one_pass = 1 - float(lengths.sum()) / (len(lengths) * int(lengths.max()))
    assert one_pass > 0.15
    # Passes of at least 16 rows: a little padding is left where the lengths
    # of 8 examples spread (6% here), well under one pass's.
    assert padding / tokens < one_pass / 2


def test_settings_must_be_the_settings_object(trained):
    model, _ = trained
    with pytest.raises(
        TypeError, match="`settings` must be a MaskOptimizationSettings"
    ):
        LayerMaskOptimization(
            ClassifierForward(model), get_embedding_layer(model), settings={"lr": 0.1}
        )
    with pytest.raises(TypeError, match="`early_stopping` must be True or False"):
        MaskOptimizationSettings(early_stopping="no")


def test_settings_moved_to_the_constructor_still_work_per_call(trained):
    model, task = trained
    rows = slice(0, 2)
    expected = explain(model, task, rows, lr=0.2, window_size=40)
    method = explainer(model)
    call = dict(
        additional_forward_args=(task.attention_mask[rows],),
        feature_mask=task.feature_mask[rows],
        **FAST,
    )
    with pytest.warns(FutureWarning) as record:
        got = method.attribute(task.input_ids[rows], lr=0.2, window_size=40, **call)
    torch.testing.assert_close(got, expected)
    messages = " ".join(str(warning.message) for warning in record)
    assert "LayerMaskOptimization(settings=MaskOptimizationSettings(...))" in messages
    assert "`window_size` to `attribute`" in messages
    assert method.settings == FIT and method.window_size is None  # that call only
    # A moved setting is checked as the settings object checks it.
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="`lr`"):
        method.attribute(task.input_ids[rows], lr=-1.0, **call)
    assert method.settings == FIT
