import math
from dataclasses import fields

import pytest
import torch
from captum.attr import IntegratedGradients, LayerGradientXActivation

from captum_nlp_ext.attr import LayerLAFA, NeighbourSearch, ReferenceIndex
from captum_nlp_ext.attr._utils.lafa import aggregate, kernel_matrix
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.testing import tiny_bert_classifier

SPECIALS = [0, 1, 2]


@pytest.fixture(scope="module")
def task(keyword_task):
    """The 100 test sentences of the shared planted-keyword task: the first 60
    form the reference pool, the rest are explained."""
    return keyword_task[1]


@pytest.fixture(scope="module")
def model(keyword_task):
    return keyword_task[0]


@pytest.fixture(scope="module")
def index(task, model):
    pool = task.split(60)[0]
    return ReferenceIndex.build(
        model,
        [{"input_ids": pool.input_ids, "attention_mask": pool.attention_mask}],
        special_token_ids=SPECIALS,
    )


SEARCH = {field.name for field in fields(NeighbourSearch)}


def make(model, index, **kwargs):
    """LayerLAFA with these knobs, the neighbour search's among them."""
    search = NeighbourSearch(**{k: kwargs.pop(k) for k in SEARCH & set(kwargs)})
    return LayerLAFA(
        ClassifierForward(model),
        get_embedding_layer(model),
        index,
        search=search,
        **kwargs,
    )


def test_kernels_by_hand():
    a = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    b = torch.tensor([[[1.0, 0.0], [3.0, 4.0], [0.0, 0.1]]])
    a_ids, b_ids = torch.tensor([[7, 8]]), torch.tensor([[7, 9, 8]])
    expected = {
        "indicator": [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
        # exp(-||a-b||_2 / 4); distances [[0, √20, √1.01], [√5, √13, 1.9]]
        "rbf": [
            [1.0, math.exp(-math.sqrt(20) / 4), math.exp(-math.sqrt(1.01) / 4)],
            [
                math.exp(-math.sqrt(5) / 4),
                math.exp(-math.sqrt(13) / 4),
                math.exp(-1.9 / 4),
            ],
        ],
        "laplacian": [
            [1.0, math.exp(-6 / 4), math.exp(-1.1 / 4)],
            [math.exp(-3 / 4), math.exp(-5 / 4), math.exp(-1.9 / 4)],
        ],
        "cubic": [[7.0**3, 21.0**3, 0.0], [0.0, 56.0**3, 1.4**3]],
        "cosine": [[1.0, 0.6, 0.0], [0.0, 0.8, 1.0]],
        "l2": [
            [1 / 0.3, 1 / 3, 1 / math.sqrt(1.01)],
            [1 / math.sqrt(5), 1 / 3, 1 / 1.9],
        ],
    }
    for kernel, values in expected.items():
        got = kernel_matrix(kernel, a, b, a_ids, b_ids)
        assert torch.allclose(got, torch.tensor([values]), rtol=1e-5), kernel
    with pytest.raises(ValueError, match="`kernel` must be one of"):
        kernel_matrix("gaussian", a, b, a_ids, b_ids)


def test_aggregation_by_hand():
    # One text (tokens 5, 6, 7) and two neighbours of 3 words and a padding slot.
    scores = torch.tensor([[1.0, 2.0, 3.0]])

    def run(valid, kernel="indicator"):
        return aggregate(
            scores,
            torch.zeros(1, 3, 2),
            torch.tensor([[5, 6, 7]]),
            torch.tensor([[[4.0, 8.0, 0.5, 9.0], [1.0, 2.0, 3.0, 9.0]]]),
            torch.zeros(1, 2, 4, 2),
            torch.tensor([[[5, 5, 6, 0], [7, 9, 9, 0]]]),
            torch.tensor([[[True, True, True, False]] * 2]),
            torch.tensor([valid]),
            kernel=kernel,
            lam=0.5,
        )

    # E(5) = 1/2 * (1/3 * (4 + 8)); E(6) = 1/2 * (1/3 * 0.5); E(7) = 1/2 * (1/3 * 1)
    expected = scores + 0.5 * torch.tensor([[12 / 6, 0.5 / 6, 1 / 6]])
    assert torch.allclose(run([True, True]), expected)
    # An invalid neighbour counts neither in |X_sim| nor in E.
    expected = scores + 0.5 * torch.tensor([[12 / 3, 0.5 / 3, 0.0]])
    assert torch.allclose(run([True, False]), expected)
    # Equal embeddings under the RBF kernel: every word of a neighbour counts,
    # E = 1/2 * ((4 + 8 + 0.5) / 3 + (1 + 2 + 3) / 3) for every token.
    expected = scores + 0.5 * (12.5 / 3 + 6 / 3) / 2
    assert torch.allclose(run([True, True], "rbf"), expected)
    # No neighbour at all: the base scores.
    assert torch.equal(run([False, False], "rbf"), scores)


def test_lambda_zero_is_saliency(task, model, index):
    ids, mask = task.input_ids[60:64], task.attention_mask[60:64]
    got = make(model, index, base="saliency", lam=0.0).attribute(
        ids, additional_forward_args=(mask,)
    )
    grads = LayerGradientXActivation(
        ClassifierForward(model), get_embedding_layer(model), multiply_by_inputs=False
    ).attribute(
        ids,
        target=model(input_ids=ids, attention_mask=mask).logits.argmax(-1),
        additional_forward_args=(mask,),
    )
    assert torch.allclose(got, grads.pow(2).sum(-1), rtol=1e-4, atol=1e-10)


def test_lambda_zero_is_integrated_gradients(task, model, index):
    ids, mask = task.input_ids[60:63], task.attention_mask[60:63]
    got = make(model, index, base="integrated_gradients", lam=0.0).attribute(
        ids, target=1, additional_forward_args=(mask,), n_steps=20
    )
    embeddings = get_embedding_layer(model)(ids).detach()
    ig = IntegratedGradients(ClassifierForward(model)).attribute(
        embeddings, baselines=0.0, target=1, additional_forward_args=(mask,), n_steps=20
    )
    assert torch.allclose(got, ig.pow(2).sum(-1), rtol=1e-4, atol=1e-10)


def test_smoothgrad_base(task, model, index):
    ids, mask = task.input_ids[60:63], task.attention_mask[60:63]
    saliency = make(model, index, base="saliency", lam=0.0).attribute(
        ids, additional_forward_args=(mask,)
    )
    smooth = make(model, index, base="smoothgrad", lam=0.0)
    silent = smooth.attribute(
        ids, additional_forward_args=(mask,), n_samples=3, stdevs=0.0
    )
    assert torch.allclose(silent, saliency, rtol=1e-4, atol=1e-10)
    noisy = smooth.attribute(ids, additional_forward_args=(mask,), n_samples=3, seed=0)
    assert not torch.allclose(noisy, saliency, rtol=1e-2)
    again = smooth.attribute(ids, additional_forward_args=(mask,), n_samples=3, seed=0)
    assert torch.equal(noisy, again)


def test_identical_neighbour_doubles_by_lambda(task, model):
    # A text of distinct words, and a pool holding exactly that text.
    ids = torch.tensor([[1, 20, 21, 22, 23, 2]])
    mask = torch.ones_like(ids)
    pool = ReferenceIndex.build(
        model, [{"input_ids": ids, "attention_mask": mask}], special_token_ids=SPECIALS
    )
    kwargs = dict(base="saliency", kernel="indicator", quantile=None, same_class=False)
    base = make(model, pool, lam=0.0, **kwargs).attribute(
        ids, additional_forward_args=mask
    )
    lafa = make(model, pool, lam=4.0, exclude_duplicates=False, **kwargs)
    got = lafa.attribute(ids, additional_forward_args=mask)
    # E(w) = m_w / T with T = 4 words, so lambda = 4 doubles every word's score;
    # [CLS] and [SEP] are no words of the neighbour and keep their base score.
    expected = base.clone()
    expected[:, 1:5] *= 2
    assert torch.allclose(got, expected, rtol=1e-4)
    # By default the text itself is excluded: no neighbour is left, LAFA = base.
    alone = make(model, pool, lam=4.0, **kwargs)
    assert torch.equal(
        alone.neighbours(ids, additional_forward_args=mask).indices,
        torch.tensor([[-1] * 10]),
    )
    assert torch.allclose(alone.attribute(ids, additional_forward_args=mask), base)


def test_normalized_scores_sum_to_one_and_still_double(task, model):
    ids = torch.tensor([[1, 20, 21, 22, 23, 2]])
    mask = torch.ones_like(ids)
    words = torch.tensor([[-1, 0, 1, 2, 3, -1]])
    pool = ReferenceIndex.build(
        model, [{"input_ids": ids, "attention_mask": mask}], special_token_ids=SPECIALS
    )
    kwargs = dict(base="saliency", quantile=None, same_class=False, normalize=True)
    raw = make(model, pool, lam=0.0, base="saliency", quantile=None).attribute(
        ids, additional_forward_args=mask, feature_mask=words
    )
    base = make(model, pool, lam=0.0, **kwargs).attribute(
        ids, additional_forward_args=mask, feature_mask=words
    )
    assert torch.allclose(base, raw / raw.sum())
    lafa = make(model, pool, lam=4.0, exclude_duplicates=False, **kwargs)
    got = lafa.attribute(ids, additional_forward_args=mask, feature_mask=words)
    assert torch.allclose(got, 2 * base, rtol=1e-4)


def test_no_neighbour_of_the_class_falls_back_to_base(task, model):
    negative = task.labels[:60] == 0
    index = ReferenceIndex.build(
        model,
        [
            {
                "input_ids": task.input_ids[:60][negative],
                "attention_mask": task.attention_mask[:60][negative],
            }
        ],
    )
    assert bool((index.predictions == 0).all())
    ids, mask = task.input_ids[60:62], task.attention_mask[60:62]
    lafa = make(model, index, base="saliency")
    assert bool((lafa.neighbours(ids, 1, mask).indices == -1).all())
    assert bool((lafa.neighbours(ids, 0, mask).indices >= 0).any())
    got = lafa.attribute(ids, target=1, additional_forward_args=mask)
    base = make(model, index, base="saliency", lam=0.0).attribute(
        ids, target=1, additional_forward_args=mask
    )
    assert torch.equal(got, base)


def test_neighbours_follow_the_settings(task, model, index):
    ids, mask = task.input_ids[60:70], task.attention_mask[60:70]
    lafa = make(model, index, n_neighbours=4, quantile=0.39)
    found = lafa.neighbours(ids, additional_forward_args=mask)
    assert found.indices.shape == (10, 4)
    valid = found.indices >= 0
    assert bool(valid.any())
    assert bool((found.distances[valid] < index.distance_quantile(0.39)).all())
    predicted = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
    pool_class = index.predictions[found.indices.clamp(min=0)]
    assert bool((pool_class == predicted.unsqueeze(1))[valid].all())


def test_units_padding_and_batching(task, model, index):
    rows = [60, 61, 62]
    ids, mask, units = (
        getattr(task, k)[rows] for k in ("input_ids", "attention_mask", "feature_mask")
    )
    # Pair words 0 and 1 into one unit.
    units = torch.where(units == 1, 0, units)
    lafa = make(model, index, n_neighbours=3)
    kwargs = dict(n_samples=4, seed=7)
    tokens = lafa.attribute(ids, additional_forward_args=mask, **kwargs)
    words = lafa.attribute(
        ids, additional_forward_args=mask, feature_mask=units, **kwargs
    )
    assert words.shape == ids.shape
    assert bool((words[units < 0] == 0).all())
    pair = tokens[:, 1] + tokens[:, 2]
    assert torch.allclose(words[:, 1], pair, rtol=1e-5)
    assert torch.allclose(words[:, 2], pair, rtol=1e-5)
    assert torch.allclose(words[:, 3], tokens[:, 3])
    # The same example alone, without the batch's extra padding.
    length = int(mask[0].sum())
    alone = lafa.attribute(
        ids[:1, :length],
        additional_forward_args=mask[:1, :length],
        feature_mask=units[:1, :length],
        **kwargs,
    )
    assert torch.allclose(alone, words[:1, :length], rtol=1e-4, atol=1e-10)


def test_planted_keyword_ranks_first(task, model, index):
    test = task.split(60)[1]
    lafa = make(model, index)
    attributions = lafa.attribute(
        test.input_ids,
        additional_forward_args=(test.attention_mask,),
        feature_mask=test.feature_mask,
        n_samples=4,
        seed=0,
    )
    top = attributions.argmax(1)
    hits = test.evidence[torch.arange(len(test)), top].float().mean()
    assert hits >= 0.9


def test_state_restored_even_when_forward_fails(task, model, index):
    layer = get_embedding_layer(model)
    # Transformers installs its own permanent hooks (hidden-state capture): only
    # ours must be gone.
    hooks_before = [dict(m._forward_hooks) for m in model.modules()]
    model.train()
    calls = []

    def failing(ids, mask=None):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("boom")
        return ClassifierForward(model)(ids, mask)

    try:
        ids, mask = task.input_ids[60:62], task.attention_mask[60:62]
        ok = LayerLAFA(
            ClassifierForward(model), layer, index, search=NeighbourSearch(2)
        )
        ok.attribute(ids, additional_forward_args=mask, n_samples=2, seed=0)
        bad = LayerLAFA(failing, layer, index, base="saliency")
        with pytest.raises(RuntimeError, match="boom"):
            bad.attribute(ids, additional_forward_args=mask)
        assert model.training
        assert all(p.requires_grad for p in model.parameters())
        assert not layer._forward_hooks
        assert [dict(m._forward_hooks) for m in model.modules()] == hooks_before
    finally:
        model.eval()


def test_bad_input(task, model, index):
    ids, mask = task.input_ids[60:62], task.attention_mask[60:62]
    with pytest.raises(ValueError, match="`n_neighbours` must be >= 1"):
        make(model, index, n_neighbours=0)
    with pytest.raises(ValueError, match="`kernel` must be one of"):
        make(model, index, kernel="gauss")
    with pytest.raises(ValueError, match="`base` must be one of"):
        make(model, index, base="deeplift")
    with pytest.raises(ValueError, match=r"`lam` must lie in \[0.0"):
        make(model, index, lam=-1.0)
    with pytest.raises(TypeError, match="`index` must be a ReferenceIndex"):
        make(model, [ids])
    other = tiny_bert_classifier(task.vocab_size, seed=5)
    with pytest.raises(ValueError, match="different model"):
        LayerLAFA(ClassifierForward(other), get_embedding_layer(other), index)
    single = ReferenceIndex.build(model, [{"input_ids": ids[:1]}])
    with pytest.raises(ValueError, match="single text"):
        make(model, single)
    lafa = make(model, index)
    with pytest.raises(TypeError, match="needs token ids"):
        lafa.attribute(torch.zeros(2, 5, 32), additional_forward_args=mask)
    with pytest.raises(ValueError, match="`additional_forward_args`: argument 0"):
        lafa.attribute(ids, additional_forward_args=(mask[:, :3],))
    with pytest.raises(ValueError, match="`n_samples` must be >= 1"):
        lafa.attribute(ids, additional_forward_args=mask, n_samples=0)
    with pytest.raises(ValueError, match="`target`"):
        lafa.attribute(ids, target=5, additional_forward_args=mask)
    with pytest.raises(ValueError, match="`feature_mask` must have shape"):
        lafa.attribute(ids, additional_forward_args=mask, feature_mask=ids[:, :2])
    scalar = LayerLAFA(
        lambda i, m: ClassifierForward(model)(i, m)[:, 0],
        get_embedding_layer(model),
        index,
    )
    with pytest.raises(ValueError, match="same_class=False"):
        scalar.attribute(ids, additional_forward_args=mask)


def test_neighbours_do_not_depend_on_the_batch(task, model, index):
    """An example's query vector, and so its neighbours and their distances,
    are the same alone and padded inside a batch (float rounding of a padded
    batch could swap near-tied neighbours)."""
    lafa = make(model, index, quantile=None)
    ids, mask = task.input_ids[60:70], task.attention_mask[60:70]
    together = lafa.neighbours(ids, additional_forward_args=(mask,))
    for i in range(len(ids)):
        length = int(mask[i].sum())
        alone = lafa.neighbours(
            ids[i : i + 1, :length], additional_forward_args=(mask[i : i + 1, :length],)
        )
        assert torch.equal(alone.indices[0], together.indices[i])
        assert torch.equal(alone.distances[0], together.distances[i])


def test_signed_saliency_takes_the_sign_of_gradient_times_input(task, model, index):
    ids, mask = task.input_ids[60:64], task.attention_mask[60:64]
    unsigned = make(model, index, base="saliency", lam=0.0)
    signed = make(model, index, base="saliency", lam=0.0, signed=True)
    got = signed.attribute(ids, additional_forward_args=(mask,))
    plain = unsigned.attribute(ids, additional_forward_args=(mask,))
    ixg = (
        LayerGradientXActivation(ClassifierForward(model), get_embedding_layer(model))
        .attribute(
            ids,
            target=model(input_ids=ids, attention_mask=mask).logits.argmax(-1),
            additional_forward_args=(mask,),
        )
        .sum(-1)
    )
    assert torch.allclose(got.abs(), plain, rtol=1e-5, atol=1e-12)
    assert bool((got < 0).any()) and bool((got > 0).any())
    strong = ixg.abs() > 1e-6
    assert torch.equal(torch.sign(got[strong]), torch.sign(ixg[strong]))


def test_signed_lafa_signs_each_word_by_its_own_base(task, model, index):
    test = task.split(60)[1]
    ids, mask, units = (
        test.input_ids[:8],
        test.attention_mask[:8],
        test.feature_mask[:8],
    )
    run = dict(additional_forward_args=(mask,), feature_mask=units, n_steps=20)
    ig = dict(base="integrated_gradients")
    plain = make(model, index, **ig).attribute(ids, **run)
    got = make(model, index, signed=True, **ig).attribute(ids, **run)
    # LAFA's magnitudes are untouched; the sign is the word's Integrated
    # Gradients (summed over its tokens).
    assert torch.allclose(got.abs(), plain, rtol=1e-5, atol=1e-12)
    assert bool((got < 0).any())
    # the planted keyword is evidence for the prediction: positive and first
    top = got.argmax(1)
    hits = test.evidence[torch.arange(8), top].float().mean()
    assert hits >= 0.9


def test_search_knobs_given_to_the_constructor_still_work(task, model, index):
    ids, mask = task.input_ids[60:63], task.attention_mask[60:63]
    layer = get_embedding_layer(model)
    search = NeighbourSearch(3, quantile=None, same_class=False)
    expected = LayerLAFA(ClassifierForward(model), layer, index, search=search)
    with pytest.warns(FutureWarning, match="pass search=NeighbourSearch"):
        old = LayerLAFA(
            ClassifierForward(model),
            layer,
            index,
            n_neighbours=3,
            quantile=None,
            same_class=False,
        )
    assert old.search == search
    run = dict(additional_forward_args=mask, n_samples=2, seed=0)
    torch.testing.assert_close(
        old.attribute(ids, **run), expected.attribute(ids, **run)
    )
    # At their old positions: base, kernel, lam, n_neighbours.
    with pytest.warns(FutureWarning) as record:
        positional = LayerLAFA(
            ClassifierForward(model), layer, index, "smoothgrad", "indicator", 0.44, 3
        )
    messages = " ".join(str(warning.message) for warning in record)
    assert "by position" in messages and "pass search=NeighbourSearch" in messages
    assert positional.search == NeighbourSearch(3)
    with pytest.raises(TypeError, match="inside `search` only"):
        LayerLAFA(ClassifierForward(model), layer, index, search=search, n_neighbours=3)
    with pytest.raises(TypeError, match="`search` must be a NeighbourSearch"):
        LayerLAFA(ClassifierForward(model), layer, index, search=3)
    with pytest.raises(TypeError, match="`same_class` must be True or False"):
        NeighbourSearch(same_class=1)
