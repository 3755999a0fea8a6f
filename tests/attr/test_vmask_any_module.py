"""VMASK on the paper's own kind of classifier: a CNN over a token embedding
table, trained from scratch with the mask (Chen and Ji, EMNLP 2020), wrapped,
explained and saved as a Hugging Face classifier is."""

import pytest
import torch
from captum.attr import LayerIntegratedGradients
from torch import nn

from captum_nlp_ext.attr import LayerNLGP, VMask, VMaskClassifier, VMaskFitSettings
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.testing import planted_keyword_task

SPECIALS = [0, 1, 2]  # [PAD], [CLS], [SEP] of the synthetic tasks


class TinyCNN(nn.Module):
    """Kim (2014)'s text CNN in miniature: embeddings, convolutions of widths
    1-3, max over time (padding left out), a linear layer."""

    def __init__(self, vocab_size: int, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embedding = nn.Embedding(vocab_size, 16, padding_idx=0)
            self.convs = nn.ModuleList(
                nn.Conv1d(16, 8, w, padding=w // 2) for w in (1, 3)
            )
            self.out = nn.Linear(16, 2)

    def forward(self, input_ids, attention_mask=None):
        x = self.embedding(input_ids).transpose(1, 2)
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        pooled = [
            conv(x)[..., : input_ids.shape[1]]
            .masked_fill(mask.unsqueeze(1) == 0, -1e4)
            .amax(dim=2)
            for conv in self.convs
        ]
        return self.out(torch.relu(torch.cat(pooled, dim=1)))


@pytest.fixture(scope="module")
def trained():
    task = planted_keyword_task(n=600, seed=0)
    train, test = task.split(500)
    # In eval mode, as a loaded classifier is: the wrapper takes its mode, and
    # its predictions then use the expected masks.
    cnn = TinyCNN(task.vocab_size).eval()
    vmask = VMaskClassifier(cnn, special_token_ids=SPECIALS)
    batches = train.sampled_batches(150, 32, 0, labels=True)
    # From scratch: the authors' CNN learning rate for both parts.
    vmask.fit(batches, settings=VMaskFitSettings(lr=1e-3, mask_lr=1e-3), epochs=2)
    return vmask, test


def test_the_layer_is_found_and_the_classifier_learns_the_task(trained):
    vmask, test = trained
    assert not vmask.training
    assert get_embedding_layer(vmask) is vmask.model.embedding is vmask.layer
    with torch.no_grad():
        logits = vmask(test.input_ids, test.attention_mask)
    accuracy = float((logits.argmax(-1) == test.labels).float().mean())
    assert accuracy >= 0.95


def test_its_keep_probabilities_rank_the_keyword_first(trained):
    vmask, test = trained
    keep = VMask(vmask).attribute(
        test.input_ids,
        additional_forward_args=(test.attention_mask,),
        feature_mask=test.feature_mask,
    )
    assert test.evidence_ranked_first(keep) >= 0.9
    assert bool((keep[test.feature_mask < 0] == 0).all())


def test_captum_and_our_methods_explain_it_through_its_embedding(trained):
    vmask, test = trained
    ids, mask = test.input_ids[:4], test.attention_mask[:4]
    forward = ClassifierForward(vmask)
    layer = get_embedding_layer(vmask)
    lig = LayerIntegratedGradients(forward, layer).attribute(
        ids, baselines=torch.zeros_like(ids), additional_forward_args=(mask,), target=1
    )
    nlgp = LayerNLGP(forward, layer, pad_token_id=0).attribute(
        ids, target=1, additional_forward_args=(mask,), n_samples=16, seed=0
    )
    assert bool(torch.isfinite(lig).all()) and lig.abs().sum() > 0
    assert bool(torch.isfinite(nlgp).all()) and nlgp.abs().sum() > 0
    assert all(len(m._forward_hooks) == 0 for m in vmask.modules())


def test_save_and_load_with_a_module_of_its_class(trained, tmp_path):
    vmask, test = trained
    vmask.save(tmp_path / "cnn")
    assert (tmp_path / "cnn" / VMaskClassifier.MASK_FILE).is_file()
    # The weights are the trained ones, put into a fresh module of the class.
    loaded = VMaskClassifier.load(tmp_path / "cnn", model=TinyCNN(test.vocab_size, 7))
    ids, mask = test.input_ids[:8], test.attention_mask[:8]
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, mask), vmask(ids, mask))
    with pytest.raises(ValueError, match="TinyCNN.*pass `model`"):
        VMaskClassifier.load(tmp_path / "cnn")
    with pytest.raises(ValueError, match="`model` does not take the weights saved"):
        VMaskClassifier.load(tmp_path / "cnn", model=nn.Embedding(3, 2))


def test_a_module_with_several_tables_needs_its_layer():
    class TwoTables(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words, self.positions = nn.Embedding(10, 4), nn.Embedding(8, 4)

    with pytest.raises(ValueError, match="2 nn.Embedding layers.*`layer`"):
        VMaskClassifier(TwoTables())
    model = TwoTables()
    assert VMaskClassifier(model, layer=model.words).layer is model.words
