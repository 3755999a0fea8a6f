"""VMASK (Chen and Ji, EMNLP 2020): the word-mask layer, its training and the
keep probabilities as attributions."""

import math

import pytest
import torch
import torch.nn.functional as F
from benchmark_toys import make_tokenizer
from captum.attr import LayerIntegratedGradients

from captum_nlp_ext.attr import (
    BetaSchedule,
    LayerNLGP,
    VMask,
    VMaskClassifier,
    VMaskFitSettings,
)
from captum_nlp_ext.attr._utils.vmask import (
    information_loss,
    relaxed_bernoulli,
    word_units,
)
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    load_classifier,
)
from captum_nlp_ext.testing import (
    planted_keyword_task,
    tiny_bert_classifier,
    train_classifier,
)

SPECIALS = [0, 1, 2]  # [PAD], [CLS], [SEP] of the synthetic tasks


def _batches(task, steps=120, batch_size=32, seed=0):
    return task.sampled_batches(steps, batch_size, seed, labels=True)


def _accuracy(model, task):
    with torch.no_grad():
        logits = model(task.input_ids, task.attention_mask).logits
    return float((logits.argmax(-1) == task.labels).float().mean())


@pytest.fixture(scope="module")
def trained():
    task = planted_keyword_task(n=600, seed=0)
    train, test = task.split(500)
    plain = tiny_bert_classifier(task.vocab_size, seed=0)
    train_classifier(plain, train, steps=120)
    vmask = VMaskClassifier(
        tiny_bert_classifier(task.vocab_size, seed=0), special_token_ids=SPECIALS
    )
    # A model trained from scratch wants a larger learning rate than the
    # default's 2e-5 for fine-tuning a pretrained encoder (train_classifier's).
    history = vmask.fit(_batches(train), settings=VMaskFitSettings(lr=1e-3))
    return plain, vmask, test, history


def test_fit_leaves_the_wrapper_in_eval_mode_as_it_was_built(trained):
    # Built from a classifier in eval mode (as loaded), the wrapper is in eval
    # mode, and fit restores it: its predictions use the expected masks.
    _, vmask, test, _ = trained
    assert not vmask.training and not vmask.model.training
    assert not vmask.mask.training
    with torch.no_grad():
        first = vmask(test.input_ids, test.attention_mask).logits
        again = vmask(test.input_ids, test.attention_mask).logits
    torch.testing.assert_close(first, again, rtol=0, atol=0)


def test_masks_that_stay_at_the_prior_are_warned_at_fit_and_attribute():
    # The default lr is for fine-tuning a pretrained classifier; from scratch
    # the masks learn nothing, which must not pass in silence.
    task = planted_keyword_task(n=200, seed=1)
    vmask = VMaskClassifier(
        tiny_bert_classifier(task.vocab_size, seed=1), special_token_ids=SPECIALS
    )
    with pytest.warns(UserWarning, match=r"stayed at the prior \(0.5\).*`lr` "
                      r"\(2e-05\)"):  # fmt: skip
        vmask.fit(_batches(task, steps=40))
    with pytest.warns(UserWarning, match="keep probabilities are flat"):
        VMask(vmask).attribute(
            task.input_ids[:8], additional_forward_args=(task.attention_mask[:8],)
        )


def test_vmask_keeps_accuracy_and_ranks_the_keyword_first(trained):
    plain, vmask, test, history = trained
    assert _accuracy(vmask, test) >= _accuracy(plain, test) - 0.02
    keep = VMask(vmask).attribute(
        test.input_ids,
        additional_forward_args=(test.attention_mask,),
        feature_mask=test.feature_mask,
    )
    assert test.evidence_ranked_first(keep) >= 0.9
    assert history[0]["beta"] == 1.0 and len(history) == 1
    # the keep probabilities are the classifier's own: in [0, 1], 0 off words
    assert bool(((keep >= 0) & (keep <= 1)).all())
    assert bool((keep[test.feature_mask < 0] == 0).all())


def test_information_loss_against_a_hand_computation():
    logits = torch.tensor([[0.0, 2.0, -1.0]])
    valid = torch.tensor([[True, True, False]])
    p = 1 / (1 + math.exp(-2.0))
    kl = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    assert float(information_loss(logits, valid)) == pytest.approx(kl / 2, rel=1e-6)
    q = 1 / (1 + math.exp(1.0))
    prior = 0.2
    expected = (
        0.5 * math.log(0.5 / prior) + 0.5 * math.log(0.5 / (1 - prior))
        + p * math.log(p / prior) + (1 - p) * math.log((1 - p) / (1 - prior))
        + q * math.log(q / prior) + (1 - q) * math.log((1 - q) / (1 - prior))
    ) / 3  # fmt: skip
    got = information_loss(logits, torch.ones(1, 3, dtype=torch.bool), prior=prior)
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_fit_minimises_cross_entropy_plus_beta_times_the_information():
    task = planted_keyword_task(n=64, seed=1)
    vmask = VMaskClassifier(
        tiny_bert_classifier(task.vocab_size, seed=0), special_token_ids=SPECIALS
    )
    batch = _batches(task, steps=1)[0]
    # What one step optimises, by hand, with the step's own sampled masks:
    vmask.train()
    vmask._generator = torch.Generator().manual_seed(0)
    logits = vmask(batch["input_ids"], batch["attention_mask"]).logits
    word_logits, units = vmask._recorded
    ce = F.cross_entropy(logits, batch["labels"])
    info = information_loss(word_logits, units.valid)
    vmask._generator, vmask._recorded = None, None
    vmask.eval()
    with torch.random.fork_rng():
        settings = VMaskFitSettings(lr=1e-12, mask_lr=1e-12, beta=0.5)
        history = vmask.fit([batch], settings=settings, seed=0)
    assert history[0]["cross_entropy"] == pytest.approx(ce.item(), rel=1e-5)
    assert history[0]["information"] == pytest.approx(info.item(), rel=1e-5)
    assert history[0]["loss"] == pytest.approx(ce.item() + 0.5 * info.item(), rel=1e-5)
    assert not vmask.training  # the mode it had


def test_beta_is_annealed_per_epoch_as_in_the_authors_code():
    schedule = BetaSchedule()
    values = [schedule(epoch) for epoch in range(13)]
    assert values[0] == 1.0
    assert values[1] == pytest.approx(0.901)
    assert values[10] == pytest.approx(0.01)
    assert values[11] == values[12] == 0.01  # the floor, never below
    assert min(values) == 0.01
    task = planted_keyword_task(n=64, seed=1)
    vmask = VMaskClassifier(
        tiny_bert_classifier(task.vocab_size, seed=0), special_token_ids=SPECIALS
    )
    settings = VMaskFitSettings(lr=1e-3)
    history = vmask.fit(_batches(task, steps=2), epochs=3, settings=settings)
    assert [h["beta"] for h in history] == pytest.approx([1.0, 0.901, 0.802])


def test_samples_in_training_and_expectations_in_eval():
    logits = torch.tensor([-3.0, 0.0, 3.0], requires_grad=True)
    draws = torch.stack(
        [
            relaxed_bernoulli(logits, 1.0, torch.Generator().manual_seed(s))
            for s in range(400)
        ]
    )
    values = draws.detach()
    # 0 or 1 (up to the rounding of hard + soft - soft, as in Gumbel-softmax)
    assert bool(((values.abs() < 1e-6) | ((values - 1).abs() < 1e-6)).all())
    rates = draws.detach().mean(0)
    assert rates[0] < 0.15 and 0.4 < rates[1] < 0.6 and rates[2] > 0.85
    draws.sum().backward()
    assert bool((logits.grad > 0).all())  # the relaxation's gradient passes

    task = planted_keyword_task(n=8, seed=2)
    base = tiny_bert_classifier(task.vocab_size, seed=0)
    vmask = VMaskClassifier(base, special_token_ids=SPECIALS).eval()
    ids, mask = task.input_ids, task.attention_mask
    with torch.no_grad():
        keep, _ = vmask.keep_probabilities(ids, mask)
        scale = torch.where(vmask.special[ids] | (mask == 0), 1.0, keep)
        embedded = base.get_input_embeddings()(ids) * scale.unsqueeze(-1)
        expected = base(inputs_embeds=embedded, attention_mask=mask).logits
        torch.testing.assert_close(vmask(ids, mask).logits, expected)
        assert torch.equal(vmask(ids, mask).logits, vmask(ids, mask).logits)
        vmask.train()
        vmask._generator = torch.Generator().manual_seed(0)
        first = vmask(ids, mask).logits
        second = vmask(ids, mask).logits
    assert not torch.equal(first, second)


def test_with_every_keep_probability_at_one_it_is_the_original_model():
    task = planted_keyword_task(n=16, seed=3)
    base = tiny_bert_classifier(task.vocab_size, seed=0)
    vmask = VMaskClassifier(base, special_token_ids=SPECIALS).eval()
    with torch.no_grad():
        vmask.mask.out.bias.fill_(1e4)
        ids, mask = task.input_ids, task.attention_mask
        assert torch.equal(
            vmask(ids, mask).logits, base(input_ids=ids, attention_mask=mask).logits
        )


def test_pieces_of_a_word_share_one_mask():
    tokenizer = make_tokenizer()
    base = tiny_bert_classifier(len(tokenizer), seed=0)
    vmask = VMaskClassifier(base, tokenizer).eval()
    enc = tokenizer(["good films badly", "fun"], padding=True, return_tensors="pt")
    keep = VMask(vmask).attribute(
        enc["input_ids"], additional_forward_args=(enc["attention_mask"],)
    )
    for row in range(2):
        ids = [i if i is not None else -1 for i in enc.word_ids(row)]
        for word in set(ids) - {-1}:
            values = keep[row][torch.tensor(ids) == word]
            assert bool((values == values[0]).all()) and float(values[0]) > 0
        assert bool((keep[row][torch.tensor(ids) == -1] == 0).all())
    # the model's word units are the tokenizer's words
    units = word_units(
        enc["input_ids"], vmask.continuation, vmask.special, enc["attention_mask"]
    )
    for row in range(2):
        expected = [-1 if w is None else w for w in enc.word_ids(row)]
        assert units.index[row].tolist() == expected


def test_captum_and_our_methods_explain_it_through_the_same_layer(trained):
    _, vmask, test, _ = trained
    ids, mask = test.input_ids[:4], test.attention_mask[:4]
    layer = get_embedding_layer(vmask)
    assert layer is vmask.model.get_input_embeddings()
    forward = ClassifierForward(vmask)
    lig = LayerIntegratedGradients(forward, layer).attribute(
        ids, baselines=torch.zeros_like(ids), additional_forward_args=(mask,), target=1
    )
    nlgp = LayerNLGP(forward, layer).attribute(
        ids, target=1, additional_forward_args=(mask,), n_samples=16, seed=0
    )
    assert bool(torch.isfinite(lig).all()) and lig.abs().sum() > 0
    assert bool(torch.isfinite(nlgp).all()) and nlgp.abs().sum() > 0
    assert all(len(m._forward_hooks) == 0 for m in vmask.modules())


def test_save_and_load_round_trip_and_refuse_another_model(trained, tmp_path):
    _, vmask, test, _ = trained
    vmask.save(tmp_path / "vm")
    loaded = VMaskClassifier.load(tmp_path / "vm")
    ids, mask = test.input_ids[:8], test.attention_mask[:8]
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, mask).logits, vmask(ids, mask).logits)
    torch.testing.assert_close(
        loaded.keep_probabilities(ids, mask)[0], vmask.keep_probabilities(ids, mask)[0]
    )
    other = tiny_bert_classifier(test.vocab_size, seed=5)
    with pytest.raises(ValueError, match="another model"):
        VMaskClassifier.load(tmp_path / "vm", model=other)
    with pytest.raises(FileNotFoundError, match="vmask.safetensors"):
        VMaskClassifier.load(tmp_path)


def test_load_classifier_gives_the_vmask_model(trained, tmp_path):
    _, vmask, _, _ = trained
    tokenizer = make_tokenizer()
    wrapped = VMaskClassifier(tiny_bert_classifier(len(tokenizer), seed=0), tokenizer)
    wrapped.save(tmp_path / "vm")
    model, loaded_tokenizer = load_classifier(tmp_path / "vm")
    assert isinstance(model, VMaskClassifier) and not model.training
    assert torch.equal(model.continuation, wrapped.continuation)
    assert len(loaded_tokenizer) == len(tokenizer)


def test_bad_inputs_name_the_argument(trained):
    plain, vmask, test, _ = trained
    with pytest.raises(TypeError, match="VMaskClassifier"):
        VMask(ClassifierForward(plain))
    with pytest.raises(TypeError, match="`model`"):
        VMaskClassifier("bert")
    with pytest.raises(ValueError, match="`special_token_ids`"):
        VMaskClassifier(plain, special_token_ids=[10**6])
    batches = _batches(test, steps=1)
    with pytest.raises(ValueError, match="`epochs`"):
        vmask.fit(batches, epochs=0)
    for kwargs, match in [
        (dict(prior=1.0), "`prior`"),
        (dict(lr=-1.0), "`lr`"),
        (dict(lr_schedule="cosine"), "`lr_schedule`"),
        (dict(beta=-0.5), "`beta`"),
    ]:
        with pytest.raises(ValueError, match=match):
            VMaskFitSettings(**kwargs)
    with pytest.raises(TypeError, match="`settings`"):
        vmask.fit(batches, settings={"lr": 1e-3})
    with pytest.raises(ValueError, match="`every`"):
        BetaSchedule(every=0)
    with pytest.raises(ValueError, match="one-pass iterator"):
        vmask.fit(iter(batches), epochs=2)
    with pytest.raises(ValueError, match="lacks \\['labels'\\]"):
        vmask.fit(
            [{"input_ids": test.input_ids, "attention_mask": test.attention_mask}]
        )
    with pytest.raises(ValueError, match="`target`"):
        VMask(vmask).attribute(
            test.input_ids[:2],
            target=7,
            additional_forward_args=test.attention_mask[:2],
        )
    assert not vmask.training
