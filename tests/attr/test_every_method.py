"""Generic tests run on every method of the shared configuration
(``method_config.CASES``)."""

import pytest
import torch
from method_config import CASES

from captum_nlp_ext._utils.hooks import model_of


@pytest.fixture(scope="module")
def toy(keyword_task):
    model, test = keyword_task
    return (
        model,
        test.input_ids[:4],
        test.attention_mask[:4],
        test.feature_mask[:4],
        test.input_ids[20:40],
        test.attention_mask[20:40],
    )


def _method(case, toy):
    model, _, _, _, pool_ids, pool_mask = toy
    return case.build(model, pool_ids, pool_mask)


def _attribute(method, case, inputs, mask, units, **kwargs):
    settings = dict(case.kwargs, additional_forward_args=(mask,), feature_mask=units)
    settings.update(kwargs)
    return method.attribute(inputs, **settings)


IDS = [case.name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_target_of_every_form_explains_the_same_class(case, toy):
    model, ids, mask, units, _, _ = toy
    method = _method(case, toy)
    with torch.no_grad():
        predicted = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
    expected = _attribute(method, case, ids, mask, units, target=None)
    for target in (predicted, predicted.tolist()):
        got = _attribute(method, case, ids, mask, units, target=target)
        torch.testing.assert_close(got, expected)
    first = int(predicted[0])
    alone = _attribute(method, case, ids[:1], mask[:1], units[:1], target=first)
    torch.testing.assert_close(alone[0], expected[0], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_an_example_gets_the_same_scores_alone_and_batched(case, toy):
    _, ids, mask, units, _, _ = toy
    method = _method(case, toy)
    batched = _attribute(method, case, ids, mask, units)
    for i in range(len(ids)):
        length = int(mask[i].sum())
        alone = _attribute(
            method, case, ids[i : i + 1, :length], mask[i : i + 1, :length],
            units[i : i + 1, :length],
        )  # fmt: skip
        torch.testing.assert_close(alone[0], batched[i, :length], atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tuple_inputs_give_tuple_attributions(case, toy):
    _, ids, mask, units, _, _ = toy
    method = _method(case, toy)
    plain = _attribute(method, case, ids, mask, units)
    wrapped = _attribute(method, case, (ids,), mask, units)
    assert isinstance(wrapped, tuple) and len(wrapped) == 1
    torch.testing.assert_close(wrapped[0], plain)
    assert plain.shape == ids.shape


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_one_additional_forward_arg_equals_a_tuple_of_it(case, toy):
    _, ids, mask, units, _, _ = toy
    method = _method(case, toy)
    as_tuple = _attribute(method, case, ids, mask, units)
    alone = _attribute(method, case, ids, mask, units, additional_forward_args=mask)
    torch.testing.assert_close(alone, as_tuple)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_hooks_mode_and_gradients_are_restored_even_on_errors(case, toy):
    model, ids, mask, units, _, _ = toy
    method = _method(case, toy)
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    hooks = {id(m): len(m._forward_hooks) for m in model.modules()}
    _attribute(method, case, ids, mask, units)
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert {id(m): len(m._forward_hooks) for m in model.modules()} == hooks
    # a forward function that raises midway leaves the same state behind
    wrapped = getattr(method, "attribution_method", method)
    original = wrapped.forward_func
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) >= case.fail_at_call:
            raise RuntimeError("boom")
        return original(*args, **kwargs)

    failing.model = model_of(original)
    wrapped.forward_func = failing
    try:
        with pytest.raises(RuntimeError, match="boom"):
            _attribute(method, case, ids, mask, units)
    finally:
        wrapped.forward_func = original
        model.eval()
    assert [p.requires_grad for p in model.parameters()] == flags
    assert {id(m): len(m._forward_hooks) for m in model.modules()} == hooks
