"""LAFA keeps its neighbours' base scores in the reference index: computed once
per (text, class), reused exactly, saved with the index."""

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from captum_nlp_ext._utils.checksum import tensor_checksum
from captum_nlp_ext.attr import LayerLAFA, ReferenceIndex
from captum_nlp_ext.attr._utils.reference_file import CHECKSUM_KEY
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.metrics import CostMeter

SPECIALS = [0, 1, 2]
N_SAMPLES = 4


@pytest.fixture()
def setup(keyword_task):
    model, task = keyword_task
    pool, rest = task.split(60)
    index = ReferenceIndex.build(
        model,
        [{"input_ids": pool.input_ids, "attention_mask": pool.attention_mask}],
        special_token_ids=SPECIALS,
    )
    return model, rest, index


def _lafa(model, index, forward=None):
    return LayerLAFA(
        forward or ClassifierForward(model), get_embedding_layer(model), index
    )


def _explain(lafa, test, rows, seed=0):
    return lafa.attribute(
        test.input_ids[rows],
        additional_forward_args=(test.attention_mask[rows],),
        feature_mask=test.feature_mask[rows],
        n_samples=N_SAMPLES,
        seed=seed,
    )


def _backward_rows(model, run):
    with CostMeter(model) as meter:
        out = run()
    return out, meter.cost.backward_rows


def test_kept_scores_are_reused_exactly(setup):
    model, test, index = setup
    rows = list(range(8))
    fresh, first_cost = _backward_rows(
        model, lambda: _explain(_lafa(model, index), test, rows)
    )
    assert index.scores_changed and len(index.score_tables) == 1
    (table,) = index.score_tables.values()
    kept = len(table)
    assert kept > 0
    again, second_cost = _backward_rows(
        model, lambda: _explain(_lafa(model, index), test, rows)
    )
    assert torch.equal(again, fresh)
    # The second call costs its own SmoothGrad samples only.
    assert second_cost == len(rows) * N_SAMPLES
    assert first_cost == (len(rows) + kept) * N_SAMPLES
    assert len(table) == kept


def test_results_do_not_depend_on_what_is_kept(setup, keyword_task):
    model, test, index = setup
    rows = [3, 4, 5, 6]
    # Another fresh index, without any kept score: the same attributions when
    # the first examples' neighbours were kept before.
    _explain(_lafa(model, index), test, [0, 1, 2, 3])
    warm = _explain(_lafa(model, index), test, rows)
    other = ReferenceIndex.build(
        model,
        [{"input_ids": index.input_ids, "attention_mask": index.attention_mask}],
        special_token_ids=SPECIALS,
    )
    cold = _explain(_lafa(model, other), test, rows)
    assert torch.equal(warm, cold)


def test_kept_scores_are_saved_with_the_index(setup, tmp_path):
    model, test, index = setup
    rows = list(range(6))
    expected = _explain(_lafa(model, index), test, rows)
    path = str(tmp_path / "index.safetensors")
    index.save(path)
    assert not index.scores_changed
    loaded = ReferenceIndex.load(path, model)
    assert {k: len(t) for k, t in loaded.score_tables.items()} == {
        k: len(t) for k, t in index.score_tables.items()
    }
    got, cost = _backward_rows(
        model, lambda: _explain(_lafa(model, loaded), test, rows)
    )
    assert cost == len(rows) * N_SAMPLES
    assert torch.equal(got, expected)


def test_what_the_kept_scores_depend_on(setup):
    model, test, index = setup
    _explain(_lafa(model, index), test, [0, 1])
    _explain(_lafa(model, index), test, [0, 1], seed=1)
    probs = LayerLAFA(
        ClassifierForward(model, output="probs"), get_embedding_layer(model), index
    )
    _explain(probs, test, [0, 1])
    assert len(index.score_tables) == 3
    # Without a seed every call draws new noise: nothing is kept.
    before = {k: len(t) for k, t in index.score_tables.items()}
    _lafa(model, index).attribute(
        test.input_ids[:2],
        additional_forward_args=(test.attention_mask[:2],),
        n_samples=N_SAMPLES,
    )
    assert {k: len(t) for k, t in index.score_tables.items()} == before
    # A forward function the index cannot name keeps its scores to itself.
    lafa = _lafa(
        model, index, forward=lambda ids, mask: ClassifierForward(model)(ids, mask)
    )
    _explain(lafa, test, [0, 1])
    assert len(index.score_tables) == 3 and len(lafa._local_scores) == 1


def test_a_malformed_score_table_is_refused(setup, tmp_path):
    model, test, index = setup
    _explain(_lafa(model, index), test, [0, 1])
    path = tmp_path / "index.safetensors"
    index.save(str(path))
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    del tensors["reference_scores.0.keys"]
    # written so by a faulty writer: its checksum matches what it wrote
    metadata[CHECKSUM_KEY] = tensor_checksum(tensors)
    broken = tmp_path / "broken.safetensors"
    save_file(tensors, str(broken), metadata=metadata)
    with pytest.raises(ValueError, match="reference_scores.0"):
        ReferenceIndex.load(str(broken), model)
