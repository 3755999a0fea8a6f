import pytest
import torch
from benchmark_toys import make_examples

from captum_nlp_ext.attr import VMaskClassifier
from captum_nlp_ext.engine.methods import (
    build_resources,
    check_methods,
    MethodContext,
    METHODS,
    MethodSpec,
    register_method,
    WeightedLeastSquares,
)
from captum_nlp_ext.engine.settings import RunSettings
from captum_nlp_ext.explain import explain_texts
from captum_nlp_ext.huggingface import WindowedClassifier, word_feature_mask
from captum_nlp_ext.metrics import CostMeter


@pytest.fixture(scope="module")
def batch(tiny_model, tiny_tokenizer, tiny_mlm):
    examples = make_examples(5, seed=3)
    encoding = tiny_tokenizer(
        [list(e.words) for e in examples],
        is_split_into_words=True,
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        target = tiny_model(**encoding).logits.argmax(-1)
    pool = [e.text for e in make_examples(20, seed=4)]
    resources = build_resources(
        METHODS, tiny_model, tiny_tokenizer, mlm=tiny_mlm, reference_texts=pool
    )
    return MethodContext(
        tiny_model,
        tiny_tokenizer,
        encoding["input_ids"],
        encoding["attention_mask"],
        word_feature_mask(encoding),
        target,
        budget=24,
        resources=resources,
    )


def _fast(ctx, name):
    # MaRC's default optimization is long; a few steps show the plumbing.
    options = {"max_steps": 5} if name == "marc" else {}
    model = ctx.model
    if name == "vmask":  # it explains only models with the layer
        model = VMaskClassifier(model, ctx.tokenizer)
    return MethodContext(**{**ctx.__dict__, "options": options, "model": model})


def test_vmask_is_refused_for_a_model_without_the_layer(batch, tiny_model):
    with pytest.raises(ValueError, match="method 'vmask': .*has none"):
        check_methods(["nlgp", "vmask"], tiny_model)
    with pytest.raises(ValueError, match="VMASK layer"):
        METHODS["vmask"].attribute(batch)
    assert check_methods(["vmask"], VMaskClassifier(tiny_model)) == ["vmask"]


def test_the_registry_zeroes_excluded_tokens_whatever_a_method_returns(batch):
    spec = MethodSpec(
        lambda ctx, settings: torch.ones(ctx.input_ids.shape),
        "ones everywhere",
        "baseline",
        "random",
        {},
    )
    excluded = batch.feature_mask < 0
    assert excluded.any() and (~excluded).any()
    assert (spec.run(batch, spec.settings({}))[excluded] == 1).all()
    out = spec.attribute(batch)
    assert (out[excluded] == 0).all() and (out[~excluded] == 1).all()


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_gives_finite_deterministic_token_scores(batch, name):
    ctx = _fast(batch, name)
    first = METHODS[name].attribute(ctx)
    assert first.shape == ctx.input_ids.shape and first.dtype == torch.float32
    assert torch.isfinite(first).all()
    assert first[ctx.feature_mask >= 0].abs().sum() > 0
    # deterministic given the seed
    assert torch.equal(first, METHODS[name].attribute(ctx))


@pytest.mark.parametrize("name", ["lime", "kernel_shap", "shapley", "gradshap", "im"])
def test_sampling_methods_do_not_depend_on_the_batch(batch, name):
    whole = METHODS[name].attribute(batch)
    row = 2
    alone = METHODS[name].attribute(batch.example(row))
    length = alone.shape[1]
    torch.testing.assert_close(whole[row, :length], alone[0], rtol=1e-4, atol=1e-7)


def test_captum_samplers_leave_the_global_generator_alone(batch):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    METHODS["lime"].attribute(batch)
    assert torch.equal(torch.rand(3), expected)


def _rows_per_example(ctx, name):
    one = ctx.example(0)
    with CostMeter(ctx.model) as meter:
        METHODS[name].attribute(one)
    return meter.cost.forward_rows, int(one.words[0])


@pytest.mark.parametrize(
    "name, rows",
    [
        ("nlgp", lambda budget, words: budget + 1),
        ("lime", lambda budget, words: budget),
        ("kernel_shap", lambda budget, words: budget),
        # permutations of words + the specials feature, + the unperturbed pass
        ("shapley", lambda budget, words: (budget // (words + 1)) * (words + 1) + 1),
        ("occlusion", lambda budget, words: words + 2),
        ("feature_ablation", lambda budget, words: words + 2),
    ],
)
def test_budget_sets_the_model_evaluations(batch, name, rows):
    measured, words = _rows_per_example(batch, name)
    assert measured == rows(batch.budget, words)
    assert "budget_rule" in METHODS[name].record()["settings"]


def test_input_marginalization_candidates_follow_the_budget(batch):
    one = batch.example(0)
    words = int(one.words[0])
    for budget in (words, 3 * words):
        ctx = MethodContext(**{**one.__dict__, "budget": budget})
        with CostMeter(ctx.model) as meter:
            METHODS["im"].attribute(ctx)
        # at most budget // words candidates per word, + the unperturbed pass
        assert meter.cost.forward_rows <= (budget // words) * words + 1
    assert "budget // words" in METHODS["im"].record()["settings"]["budget_rule"]


def test_random_is_seeded_per_example_and_run(batch):
    scores = METHODS["random"].attribute(batch)
    again = METHODS["random"].attribute(batch)
    other_seed = METHODS["random"].attribute(
        MethodContext(**{**batch.__dict__, "seed": 1})
    )
    assert torch.equal(scores, again) and not torch.equal(scores, other_seed)
    # an example's scores come from its data set index, not its batch position
    alone = METHODS["random"].attribute(batch.example(3))
    assert torch.equal(alone[0], scores[3, : alone.shape[1]])
    assert not torch.equal(scores[0, 1:3], scores[1, 1:3])
    # word-level: the tokens of a word share its score
    mask = batch.feature_mask
    for row in range(len(mask)):
        for unit in mask[row][mask[row] >= 0].unique():
            assert scores[row][mask[row] == unit].unique().numel() == 1


def test_weighted_least_squares_recovers_a_linear_model():
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2, (64, 4), generator=generator).float()
    y = x @ torch.tensor([0.5, -1.0, 0.0, 2.0]) + 0.3
    w = torch.rand(64, generator=generator)
    model = WeightedLeastSquares()
    model.fit([(x, y, w)])
    torch.testing.assert_close(
        model.representation(), torch.tensor([[0.5, -1.0, 0.0, 2.0]]), atol=1e-4, rtol=0
    )


def test_missing_resources_and_unknown_names_are_clear_errors(batch, tiny_model):
    bare = MethodContext(**{**batch.__dict__, "resources": {}})
    with pytest.raises(ValueError, match="resources \\['mlm'\\]"):
        METHODS["im"].attribute(bare)
    with pytest.raises(ValueError, match="unknown names \\['nope'\\]"):
        check_methods(["lig", "nope"])
    with pytest.raises(ValueError, match="needs a masked language model"):
        build_resources(["im"], tiny_model, batch.tokenizer)
    with pytest.raises(ValueError, match="unknown settings \\['steps'\\]"):
        METHODS["lig"].settings({"steps": 3})
    windowed = MethodContext(**{**batch.__dict__, "windowed": True})
    with pytest.raises(ValueError, match="windowed classifier"):
        METHODS["lafa"].attribute(windowed)


def test_a_registered_method_reaches_explain(tiny_model, tiny_tokenizer):
    def first_word(ctx, settings):
        return (ctx.feature_mask == 0).float() * settings["weight"]

    register_method(
        "first_word",
        MethodSpec(first_word, "the first word", "baseline", "random", {"weight": 2.0}),
    )
    try:
        records = explain_texts(
            tiny_model,
            tiny_tokenizer,
            ["good film", "a dull plot"],
            RunSettings(methods=("first_word",)),
        )
    finally:
        del METHODS["first_word"]
    # the page shows scores normalized by the largest magnitude
    assert [r.word_attributions.tolist() for r in records["first_word"]] == [
        [1.0, 0.0],
        [1.0, 0.0, 0.0],
    ]


def test_nlgp_readings_are_its_settings(batch):
    from captum_nlp_ext.attr import LayerNLGP

    made = {"perturbation": "reference", "ridge": 0.01}
    call = {"baselines": 0, "stdevs": 1.0}
    ctx = MethodContext(**{**batch.__dict__, "options": {**made, **call}})
    expected = LayerNLGP(ctx.forward("probs"), ctx.layer, **made).attribute(
        ctx.input_ids,
        target=ctx.target,
        additional_forward_args=ctx.additional_forward_args,
        feature_mask=ctx.feature_mask,
        n_samples=ctx.budget,
        seed=ctx.example_seeds,
        **call,
    )
    torch.testing.assert_close(METHODS["nlgp"].attribute(ctx), expected)
    assert not torch.equal(expected, METHODS["nlgp"].attribute(batch))
    settings = METHODS["nlgp"].record(call)["settings"]
    assert settings["perturbation"] == "reference" and settings["ridge"] == 1e-3
    wrong = MethodContext(**{**batch.__dict__, "options": {"perturbation": "up"}})
    with pytest.raises(ValueError, match="perturbation"):
        METHODS["nlgp"].attribute(wrong)


def test_lig_through_windows_keeps_a_gradient_pass_to_its_rows(
    tiny_model, tiny_tokenizer
):
    # A pass with gradients keeps every window's activations: on a long
    # document internal_batch_size counts windows, not documents.
    words = sum((list(e.words) for e in make_examples(12, seed=6)), [])
    encoding = tiny_tokenizer([words], is_split_into_words=True, return_tensors="pt")
    windowed = WindowedClassifier(
        tiny_model, tiny_tokenizer.all_special_ids, window_size=24, window_overlap=4
    )
    ctx = MethodContext(
        model=windowed,
        tokenizer=tiny_tokenizer,
        input_ids=encoding["input_ids"],
        attention_mask=encoding["attention_mask"],
        feature_mask=word_feature_mask(encoding),
        target=torch.tensor([1]),
        internal_batch_size=12,
        windowed=True,
    )
    # several windows, fewer than a pass holds: two or more IG steps a pass
    assert 3 <= int(windowed.count_windows(ctx.input_ids, ctx.attention_mask)) <= 6
    sizes = []

    def record(module, args, kwargs):
        if torch.is_grad_enabled():
            sizes.append(kwargs["inputs_embeds"].shape[0])

    hook = tiny_model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        scores = METHODS["lig"].attribute(ctx)
    finally:
        hook.remove()
    assert sizes and max(sizes) <= 12
    # IG sums its steps, so the passes' size changes rounding only
    whole = METHODS["lig"].attribute(
        MethodContext(**{**ctx.__dict__, "internal_batch_size": 1000})
    )
    torch.testing.assert_close(scores, whole, rtol=1e-4, atol=1e-5)
