import warnings

import pytest
import torch
from captum.attr import LayerIntegratedGradients

from captum_nlp_ext._utils.tokens import token_id
from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    WindowedClassifier,
)
from captum_nlp_ext.testing import tiny_bert_classifier

PAD, CLS, SEP = 0, 1, 2
SPECIALS = (PAD, CLS, SEP, 3, 4)


def document(length, seed=0):
    body = torch.randint(
        5, 50, (length,), generator=torch.Generator().manual_seed(seed)
    )
    return torch.cat([torch.tensor([CLS]), body, torch.tensor([SEP])]).unsqueeze(0)


@pytest.fixture(scope="module")
def model():
    return tiny_bert_classifier(vocab_size=50, num_labels=3)


def test_input_that_fits_is_the_model_itself(model):
    ids = document(20)
    windowed = WindowedClassifier(model, SPECIALS, window_size=32, window_overlap=8)
    with torch.no_grad():
        expected = torch.log_softmax(model(input_ids=ids).logits, dim=-1)
        assert torch.allclose(windowed(ids), expected, atol=1e-6)


def test_long_input_averages_its_windows_probabilities(model):
    # 100 body tokens, windows of 30 body tokens ([CLS] + 30 + [SEP] = 32)
    # overlapping by at least 8: 4 windows starting at 0, 23, 47, 70.
    ids = document(100)
    windowed = WindowedClassifier(model, SPECIALS, window_size=32, window_overlap=8)
    body = ids[0, 1:-1]
    windows = torch.stack(
        [
            torch.cat([ids[0, :1], body[start : start + 30], ids[0, -1:]])
            for start in (0, 23, 47, 70)
        ]
    )
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=windows).logits, dim=-1)
        assert torch.allclose(
            windowed(ids).exp(), probs.mean(0, keepdim=True), atol=1e-6
        )


def test_an_example_alone_equals_it_inside_a_padded_batch(model):
    short, long = document(10, seed=1), document(70, seed=2)
    batch = torch.full((2, long.shape[1]), PAD)
    batch[0, : short.shape[1]] = short[0]
    batch[1] = long[0]
    attention = (batch != PAD).long()
    windowed = WindowedClassifier(
        model, SPECIALS, window_size=32, window_overlap=8, windows_per_pass=3
    )
    with torch.no_grad():
        together = windowed(batch, attention)
        assert torch.allclose(together[0], windowed(short)[0], atol=1e-5)
        assert torch.allclose(together[1], windowed(long)[0], atol=1e-5)


def test_layer_methods_see_the_whole_document(model):
    ids = document(80)
    windowed = WindowedClassifier(model, SPECIALS, window_size=32, window_overlap=8)
    layer = get_embedding_layer(windowed)
    seen = []
    handle = layer.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    forward = ClassifierForward(windowed, output="probs")
    baselines = torch.where((ids == CLS) | (ids == SEP), ids, PAD)
    try:
        attributions, delta = LayerIntegratedGradients(forward, layer).attribute(
            ids,
            baselines=baselines,
            target=0,
            n_steps=64,
            return_convergence_delta=True,
        )
    finally:
        handle.remove()
    assert seen and all(shape[1:] == (82, 32) for shape in seen)
    assert attributions.shape == (1, 82, 32)
    assert abs(float(delta)) < 0.05


def test_single_logit_classifier_returns_the_logit_of_the_mean(model):
    single = tiny_bert_classifier(vocab_size=50, num_labels=1)
    ids = document(100)
    windowed = WindowedClassifier(single, SPECIALS, window_size=32, window_overlap=8)
    body = ids[0, 1:-1]
    windows = torch.stack(
        [
            torch.cat([ids[0, :1], body[start : start + 30], ids[0, -1:]])
            for start in (0, 23, 47, 70)
        ]
    )
    with torch.no_grad():
        expected = torch.sigmoid(single(input_ids=windows).logits).mean()
        probs = ClassifierForward(windowed, output="probs")(ids)
    assert probs.shape == (1, 1)
    assert torch.allclose(probs[0, 0], expected, atol=1e-6)


def test_a_pad_baseline_is_windowed_like_its_input(model):
    ids = document(70)
    baseline = torch.where((ids == CLS) | (ids == SEP), ids, PAD)
    windowed = WindowedClassifier(model, SPECIALS, window_size=32, window_overlap=8)
    with torch.no_grad():
        both = windowed(torch.cat([ids, baseline]))
        assert torch.allclose(both[1], windowed(baseline)[0], atol=1e-6)
        only_specials = torch.tensor([[CLS, SEP]])
        expected = torch.log_softmax(model(input_ids=only_specials).logits, -1)
        assert torch.allclose(windowed(only_specials), expected, atol=1e-6)


def test_methods_find_the_padding_id_through_the_wrapper(model):
    # The wrapper has no config; NLGP's [PAD] reference must not fall back to
    # the zero vector because of it.
    ids = document(70)
    windowed = WindowedClassifier(model, SPECIALS, window_size=32, window_overlap=8)
    layer = get_embedding_layer(windowed, kind="tokens")
    kwargs = dict(target=0, n_samples=24, seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = LayerNLGP(ClassifierForward(windowed), layer).attribute(ids, **kwargs)
    assert not [w for w in caught if "zero vector" in str(w.message)]
    given = LayerNLGP(ClassifierForward(windowed), layer, pad_token_id=PAD)
    torch.testing.assert_close(found, given.attribute(ids, **kwargs))
    assert token_id("pad_token_id", model=windowed) == PAD


def test_bad_arguments(model):
    windowed = WindowedClassifier(model, SPECIALS, window_size=32, window_overlap=8)
    with pytest.raises(TypeError, match="input_ids"):
        windowed(torch.randn(1, 10, 32))
    with pytest.raises(ValueError, match="window_size"):
        WindowedClassifier(model, SPECIALS, window_size=1)
    with pytest.raises(ValueError, match="window_overlap"):
        WindowedClassifier(model, SPECIALS, window_overlap=-1)
    model.config.pad_token_id, kept = None, model.config.pad_token_id
    try:
        with pytest.raises(ValueError, match="pad_token_id"):
            WindowedClassifier(model, SPECIALS)
    finally:
        model.config.pad_token_id = kept


def _windows_seen(model):
    seen = []

    def count(module, args, kwargs):
        seen.append(kwargs["inputs_embeds"].shape[0])

    return seen, model.register_forward_pre_hook(count, with_kwargs=True)


def _one_word_changed(ids, positions):
    rows = ids.repeat(len(positions), 1)
    for row, position in enumerate(positions):
        rows[row, 1 + position] = 5 if int(ids[0, 1 + position]) != 5 else 6
    return rows


def test_repeated_windows_pass_through_the_model_once(model):
    ids = document(100)
    rows = _one_word_changed(ids, (5, 10, 35, 40, 60, 90))
    windowed = WindowedClassifier(
        model, SPECIALS, window_size=32, window_overlap=8, windows_per_pass=4
    )
    with torch.no_grad():
        alone = torch.cat([windowed(row[None]) for row in rows])
        seen, handle = _windows_seen(model)
        try:
            together = windowed(rows)
        finally:
            handle.remove()
    # The unchanged windows once, and the one or two windows that hold each
    # row's changed token (windows overlap by less than half), instead of
    # every window of every row.
    windows = int(windowed.count_windows(ids))
    assert windows == 5
    assert windows + 6 <= sum(seen) <= windows + 2 * 6 < 6 * windows
    assert torch.allclose(together, alone, atol=1e-6)


def test_windows_are_not_merged_when_gradients_flow_or_embeddings_differ(model):
    ids = document(100)
    rows = _one_word_changed(ids, (5, 35, 60))
    windowed = WindowedClassifier(model, SPECIALS, window_size=32, window_overlap=8)
    forward = ClassifierForward(windowed, output="probs")
    layer = get_embedding_layer(windowed)
    attribute = LayerIntegratedGradients(forward, layer).attribute
    seen, handle = _windows_seen(model)
    try:
        together = attribute(rows, target=0, n_steps=4)
    finally:
        handle.remove()
    # The pass with gradients holds every window of the 3 x 4 scaled rows.
    assert 3 * 4 * int(windowed.count_windows(ids)) in seen
    alone = torch.cat([attribute(row[None], target=0, n_steps=4) for row in rows])
    assert torch.allclose(together, alone, atol=1e-6)

    # A hook that moves each row's embeddings differently (same token ids):
    # every window is its own.
    direction = torch.randn(32, generator=torch.Generator().manual_seed(0))
    shift = torch.arange(3.0).view(3, 1, 1) * direction
    handle = layer.register_forward_hook(lambda m, i, o: o + shift)
    seen, counter = _windows_seen(model)
    try:
        with torch.no_grad():
            moved = windowed(ids.repeat(3, 1))
    finally:
        handle.remove()
        counter.remove()
    assert sum(seen) == 3 * int(windowed.count_windows(ids))
    assert not torch.allclose(moved[0], moved[2])
