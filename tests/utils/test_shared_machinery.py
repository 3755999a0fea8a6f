import pytest
import torch
from torch import nn

from captum_nlp_ext._utils.batching import evaluate_rows, index_additional_forward_args
from captum_nlp_ext._utils.hooks import (
    forward_with_layer_output,
    forward_with_layer_replaced,
    frozen_parameters,
    layer_output_only,
)
from captum_nlp_ext._utils.memo import distinct_rows
from captum_nlp_ext._utils.outputs import output_to_tensor
from captum_nlp_ext._utils.targets import resolve_target, select_target
from captum_nlp_ext._utils.units import build_units


def test_units_are_renumbered_per_example_and_broadcast():
    mask = torch.tensor([[-1, 7, 7, 3, -1], [5, 5, 5, 5, 9]])
    units = build_units(mask, 2, 5, torch.device("cpu"))
    assert units.index.tolist() == [[-1, 1, 1, 0, -1], [0, 0, 0, 0, 1]]
    assert units.count.tolist() == [2, 2]
    values = torch.tensor([[10.0, 20.0], [30.0, 40.0]])
    assert units.to_tokens(values).tolist() == [
        [0, 20, 20, 10, 0],
        [30, 30, 30, 30, 40],
    ]
    shared = build_units(torch.tensor([[0, 1, 1]]), 3, 3, torch.device("cpu"))
    assert shared.index.tolist() == [[0, 1, 1]] * 3
    default = build_units(None, 2, 3, torch.device("cpu"))
    assert default.index.tolist() == [[0, 1, 2]] * 2


def test_units_pool_and_validity():
    units = build_units(
        torch.tensor([[0, 0, -1], [0, 1, 2]]), 2, 3, torch.device("cpu")
    )
    assert units.valid.tolist() == [[True, False, False], [True, True, True]]
    assert units.sizes().tolist() == [[2, 0, 0], [1, 1, 1]]
    tokens = torch.tensor([[0.0, 0.0, 5.0], [1.0, -2.0, 3.0]])
    assert units.pool(tokens, "max_abs").tolist() == [[0, 0, 0], [1, -2, 3]]


def test_targets_resolved_and_validated():
    output = torch.tensor([[0.1, 0.9], [0.8, 0.2]])
    assert resolve_target(None, output).tolist() == [1, 0]
    assert resolve_target(0, output).tolist() == [0, 0]
    assert resolve_target([1, 0], output).tolist() == [1, 0]
    assert resolve_target(torch.tensor(1), output).tolist() == [1, 1]
    assert resolve_target(None, output[:, 0]) is None
    assert torch.equal(
        select_target(output, torch.tensor([1, 0])), output.max(1).values
    )
    with pytest.raises(ValueError, match="out of range"):
        resolve_target(torch.tensor([0, 2]), output)
    with pytest.raises(TypeError, match="integer"):
        resolve_target(torch.tensor([0.0, 1.0]), output)
    with pytest.raises(ValueError, match="must be None"):
        resolve_target(0, output[:, 0])
    with pytest.raises(ValueError, match="one score per"):
        resolve_target(None, torch.zeros(2, 2, 2))


def test_outputs_converted():
    t = torch.zeros(2, 3)

    class Out:
        logits = t

    assert output_to_tensor(Out()) is t
    assert output_to_tensor((t, None)) is t
    with pytest.raises(TypeError, match="must return a tensor"):
        output_to_tensor("logits")


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, ids, mask, flag=None):
        return self.head((self.embedding(ids) * mask.unsqueeze(-1)).sum(1))


def test_evaluate_rows_matches_direct_forward_per_row():
    torch.manual_seed(0)
    model = Tiny()
    ids = torch.randint(0, 10, (3, 5))
    mask = torch.ones(3, 5)
    mask[2, 3:] = 0
    rows = torch.tensor([2, 0, 0, 1, 2, 2, 1])
    target = torch.tensor([1, 0, 1])
    scores = evaluate_rows(
        model, ids, (mask, "flag"), rows, target, internal_batch_size=3
    )
    direct = model(ids[rows], mask[rows]).gather(1, target[rows].unsqueeze(1))
    torch.testing.assert_close(scores, direct.squeeze(1).detach())
    args = index_additional_forward_args((mask, 3, torch.ones(1, 5)), rows, 3)
    assert args[0].shape == (7, 5) and args[1] == 3 and args[2].shape == (1, 5)


def test_layer_hooks_removed_even_when_forward_raises():
    model = Tiny()
    ids, mask = torch.zeros(1, 2, dtype=torch.long), torch.ones(1, 2)
    output, layer_output = forward_with_layer_output(
        model, model.embedding, ids, (mask,)
    )
    assert layer_output.shape == (1, 2, 4)
    replaced = forward_with_layer_replaced(
        model, model.embedding, ids, (mask,), torch.zeros(1, 2, 4)
    )
    torch.testing.assert_close(replaced, model.head.bias.unsqueeze(0).detach())
    with pytest.raises(ValueError, match="replacement .* has shape"):
        forward_with_layer_replaced(
            model, model.embedding, ids, (mask,), torch.zeros(1, 3, 4)
        )

    def broken(ids, mask):
        model.embedding(ids)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        forward_with_layer_output(broken, model.embedding, ids, (mask,))
    assert not model.embedding._forward_hooks


def test_layer_output_only_stops_the_pass_at_the_layer():
    model = Tiny()
    ids, mask = torch.randint(0, 10, (2, 3)), torch.ones(2, 3)
    _, expected = forward_with_layer_output(model, model.embedding, ids, (mask,))
    heads = []
    handle = model.head.register_forward_hook(lambda *a: heads.append(1))
    try:
        got = layer_output_only(model, model.embedding, ids, (mask,))
    finally:
        handle.remove()
    torch.testing.assert_close(got, expected)
    assert heads == [] and not model.embedding._forward_hooks
    with pytest.raises(ValueError, match="was not called"):
        layer_output_only(model, nn.Linear(2, 2), ids, (mask,))


def test_frozen_parameters_restores_flags_on_error():
    model = Tiny()
    model.head.bias.requires_grad_(False)
    with pytest.raises(RuntimeError):
        with frozen_parameters(model):
            assert not any(p.requires_grad for p in model.parameters())
            raise RuntimeError
    assert [p.requires_grad for p in model.parameters()] == [True, True, False]


def test_pool_reductions_on_words_of_several_tokens():
    units = build_units(torch.tensor([[2, 2, 2, -1, 0, 0]]), 1, 6, torch.device("cpu"))
    tokens = torch.tensor([[1.0, -4.0, 2.0, 100.0, 3.0, -3.0]])
    assert units.sizes().tolist() == [[2.0, 3.0]]
    assert units.pool(tokens, "sum").tolist() == [[0.0, -1.0]]
    torch.testing.assert_close(
        units.pool(tokens, "mean"), torch.tensor([[0.0, -1 / 3]])
    )
    # -4 has the largest magnitude of unit 1; 3 and -3 tie in unit 0.
    assert units.pool(tokens, "max_abs").tolist() == [[0.0, -4.0]]


def test_auto_pooling_finds_a_shared_score_that_its_mean_misses():
    from captum_nlp_ext._utils.units import build_units

    # In float32, (v + v + v) / 3 != v for this v: a test against the mean
    # took the word for token-level and summed it (three times its score).
    v = 0.2143
    values = torch.tensor([[v, v, v, 0.5, -0.25, 0.0]], dtype=torch.float32)
    units = build_units(torch.tensor([[0, 0, 0, 1, 2, -1]]), 1, 6, values.device)
    assert bool(units.pool(values, "mean")[0, 0] != values[0, 0])
    auto = units.pool(values, "auto")
    assert auto[0].tolist() == [values[0, 0].item(), 0.5, -0.25]
    # Tokens of a word that differ: summed, as before.
    values[0, 1] = 0.3
    assert torch.allclose(units.pool(values, "auto"), units.pool(values, "sum"))


def test_distinct_rows_finds_exact_repeats_in_batch_order():
    a, b, c = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(0))
    values = torch.stack([b, a, b, c, a])
    repeats = distinct_rows(values)
    assert repeats.first.tolist() == [0, 1, 3]
    assert repeats.inverse.tolist() == [0, 1, 0, 2, 1]
    assert torch.equal(values[repeats.first][repeats.inverse], values)
    # Nothing repeats: none; rows equal in values but not in the others: none.
    assert distinct_rows(torch.stack([a, b, c])) is None
    assert distinct_rows(values, torch.tensor([0, 1, 2, 3, 4])) is None
    # Rows of equal sums that differ are not merged.
    assert distinct_rows(torch.tensor([[1.0, 2.0], [2.0, 1.0]])) is None


def test_ridge_fit_of_several_responses_equals_one_fit_each():
    """One solve with a column per output (NLGP's per-output-token matrix)
    gives what fitting each response alone gives."""
    from captum_nlp_ext._utils.regression import ridge_fit

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 40, 5, generator=generator)
    y = torch.randn(2, 40, 3, generator=generator)
    weights = torch.rand(2, 40, generator=generator)
    valid = torch.tensor([[True] * 5, [True, True, True, False, False]])
    together = ridge_fit(x, y, weights, valid, 1e-3)
    assert together.shape == (2, 3, 5)
    for k in range(3):
        alone = ridge_fit(x, y[..., k], weights, valid, 1e-3)
        assert torch.allclose(together[:, k], alone, atol=1e-12)
    assert torch.all(together[1, :, 3:] == 0)
