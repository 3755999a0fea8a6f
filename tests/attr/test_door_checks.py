"""What every method does with a model or input it cannot explain: NaN outputs,
dropout left on, inputs past the model's positions, ids outside its vocabulary,
torch.inference_mode() and low-precision models."""

import warnings

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from captum_nlp_ext._utils.checks import NonFiniteError
from captum_nlp_ext.attr import (
    DiffMask,
    EmbeddingNoiseTunnel,
    LayerInputMarginalization,
    LayerLAFA,
    LayerMaskOptimization,
    LayerNLGP,
    ReferenceIndex,
    VMask,
    VMaskClassifier,
)
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.testing import NaNClassifier, tiny_bert_classifier

VOCAB, POSITIONS = 30, 64


def tiny_model(**config):
    return tiny_bert_classifier(VOCAB, max_position_embeddings=POSITIONS, **config)


def batch(tokens=8, rows=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (rows, tokens), generator=generator)
    ids[:, 0], ids[:, -1] = 1, 2
    return ids, torch.ones_like(ids)


def _mlm():
    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=POSITIONS,
    )
    return BertForMaskedLM(config).eval()


def _index(model):
    ids, mask = batch(rows=6, seed=3)
    return ReferenceIndex.build(
        model,
        [{"input_ids": ids, "attention_mask": mask}],
        special_token_ids=[0, 1, 2],
    )


def explain(name, model, ids, mask, **kwargs):
    forward = ClassifierForward(model)
    if name == "nlgp":
        method = LayerNLGP(forward, get_embedding_layer(model))
        return method.attribute(
            ids, additional_forward_args=(mask,), seed=0, n_samples=8
        )
    if name == "im":
        method = LayerInputMarginalization(
            forward, get_embedding_layer(model), _mlm(), mask_token_id=4, pad_token_id=0
        )
        return method.attribute(ids, additional_forward_args=(mask,), top_k=2)
    if name == "lafa":
        method = LayerLAFA(forward, get_embedding_layer(model), _index(model))
        return method.attribute(
            ids, additional_forward_args=(mask,), n_samples=2, seed=0
        )
    if name == "marc":
        method = LayerMaskOptimization(
            forward, get_embedding_layer(model, "full"), pad_token_id=0, **kwargs
        )
        return method.attribute(
            ids, additional_forward_args=(mask,), max_steps=3, seed=0
        )
    if name == "noise_tunnel":
        method = EmbeddingNoiseTunnel(LayerNLGP(forward, get_embedding_layer(model)))
        return method.attribute(
            ids,
            nt_samples=2,
            stdevs=0.01,
            additional_forward_args=(mask,),
            n_samples=8,
            seed=0,
        )
    if name == "diffmask":
        return DiffMask(model).attribute(ids, additional_forward_args=(mask,))
    if name == "vmask":
        method = VMask(VMaskClassifier(model, special_token_ids=[0, 1, 2]))
        return method.attribute(ids, additional_forward_args=(mask,))
    raise AssertionError(name)


METHODS = ["nlgp", "im", "lafa", "marc", "noise_tunnel", "vmask", "diffmask"]
# VMask and DiffMask always read the model in eval mode (expected masks and
# gates), so dropout left on cannot make them random.
SAMPLED = [name for name in METHODS if name not in ("vmask", "diffmask")]


@pytest.mark.parametrize("name", METHODS)
def test_nan_outputs_name_the_examples(name):
    model = tiny_model()
    ids, mask = batch()
    wrapped = NaNClassifier(model, int(ids[1, 1]), position=1)
    with pytest.raises(NonFiniteError, match=r"example\(s\) \[1\] ") as error:
        explain(name, wrapped, ids, mask)
    assert error.value.examples == [1] and "NaN or infinite" in str(error.value)


def test_nan_in_perturbed_rows_names_their_examples():
    # The one batching home checks every pass: a copy that turns NaN names
    # the example it perturbs, not its row.
    from captum_nlp_ext._utils.batching import evaluate_rows

    inputs = torch.zeros(3, 4)

    def forward(x):
        out = x.sum(1, keepdim=True).repeat(1, 2)
        out[x[:, 0] == 7] = float("nan")
        return out

    def rows(r):
        x = torch.zeros(len(r), 4)
        x[r == 5, 0] = 7  # copy 5 (of example 5 // 2 = 2) breaks the model
        return x

    row_example = torch.arange(3).repeat_interleave(2)
    with pytest.raises(NonFiniteError, match=r"example\(s\) \[2\]"):
        evaluate_rows(forward, inputs, (), row_example, None, 4, input_rows=rows)


@pytest.mark.parametrize("name", SAMPLED)
def test_dropout_in_training_mode_is_warned(name):
    model = tiny_model(hidden_dropout_prob=0.1).train()
    ids, mask = batch()
    with pytest.warns(UserWarning, match="dropout.*model.eval\\(\\)"):
        explain(name, model, ids, mask)
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        explain(name, model, ids, mask)


@pytest.mark.parametrize("name", METHODS)
def test_inputs_past_the_models_positions_are_refused_at_the_door(name):
    model = tiny_model()
    ids, mask = batch(tokens=POSITIONS + 6)
    with pytest.raises(ValueError, match=f"70 tokens .* {POSITIONS} positions.*window"):
        explain(name, model, ids, mask)


def test_mask_optimization_windows_take_long_inputs():
    model = tiny_model()
    ids, mask = batch(tokens=POSITIONS + 6, rows=1)
    masks = explain("marc", model, ids, mask, window_size=48, window_overlap=8)
    assert masks.shape == ids.shape


@pytest.mark.parametrize("name", METHODS)
def test_token_ids_outside_the_vocabulary_are_refused(name):
    model = tiny_model()
    ids, mask = batch()
    ids[2, 3] = VOCAB + 5
    with pytest.raises(ValueError, match=f"token ids in \\[1, {VOCAB + 5}\\].*\\[0, "):
        explain(name, model, ids, mask)


@pytest.mark.parametrize("name", ["lafa", "marc"])
def test_gradient_methods_work_under_inference_mode(name):
    model = tiny_model()
    ids, mask = batch()
    expected = explain(name, model, ids, mask)
    with torch.inference_mode():
        ids_, mask_ = ids.clone(), mask.clone()
        got = explain(name, model, ids_, mask_)
    torch.testing.assert_close(got, expected)
    assert all(p.requires_grad for p in model.parameters())


def test_mask_optimization_runs_on_a_bfloat16_model():
    model = tiny_model()
    ids, mask = batch()
    expected = explain("marc", model, ids, mask)
    low = tiny_model().to(torch.bfloat16)
    got = explain("marc", low, ids, mask)
    assert got.dtype == torch.bfloat16 and torch.isfinite(got.float()).all()
    assert (got.float() - expected).abs().max() < 0.1


@pytest.mark.parametrize("name", METHODS)
def test_a_wrong_shaped_attention_mask_is_named_at_the_door(name):
    model = tiny_model()
    ids, mask = batch()
    with pytest.raises(ValueError, match=r"`additional_forward_args`: argument 0 "
                       r"\(e\.g\. the attention mask\) has shape \(3, 7\); the "
                       r"inputs' \(batch, tokens\) is \(3, 8\)"):  # fmt: skip
        explain(name, model, ids, mask[:, :-1])
