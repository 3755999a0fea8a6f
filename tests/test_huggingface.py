import pytest
import torch
from captum.attr import LayerIntegratedGradients
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertTokenizerFast,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    GPT2Config,
    RobertaConfig,
    XLMRobertaConfig,
)

from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    kept_word_ids,
    token_feature_mask,
    unit_texts,
    word_feature_mask,
)

VOCAB = 64
SMALL = dict(vocab_size=VOCAB, num_labels=3)
BERT_LIKE = dict(
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=40,
)
CONFIGS = {
    "bert": BertConfig(**SMALL, **BERT_LIKE),
    "roberta": RobertaConfig(**SMALL, **BERT_LIKE, pad_token_id=1),
    "xlm-roberta": XLMRobertaConfig(**SMALL, **BERT_LIKE, pad_token_id=1),
    "electra": ElectraConfig(**SMALL, **BERT_LIKE, embedding_size=16),
    "deberta-v2": DebertaV2Config(**SMALL, **BERT_LIKE),
    "distilbert": DistilBertConfig(
        **SMALL,
        dim=16,
        n_layers=1,
        n_heads=2,
        hidden_dim=32,
        max_position_embeddings=40,
    ),
    "gpt2": GPT2Config(
        **SMALL, n_embd=16, n_layer=1, n_head=2, n_positions=40, pad_token_id=0
    ),
}


def tiny(name):
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(CONFIGS[name]).eval()


def padded_batch():
    ids = torch.randint(3, VOCAB, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 4:] = 0
    ids = ids.masked_fill(mask == 0, 0)
    units = torch.arange(9).expand(3, -1).masked_fill(mask == 0, -1)
    return ids, mask, units


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_family_is_explained_with_padding(name):
    model = tiny(name)
    ids, mask, units = padded_batch()
    forward = ClassifierForward(model)
    layer = get_embedding_layer(model)
    assert layer is model.get_input_embeddings()
    logits = forward(ids, mask)
    assert logits.shape == (3, 3)
    probs = ClassifierForward(model, output="probs")(ids, mask)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    flags = [p.requires_grad for p in model.parameters()]
    attributions = LayerNLGP(forward, layer).attribute(
        ids, additional_forward_args=(mask,), feature_mask=units, n_samples=8, seed=0
    )
    assert attributions.shape == ids.shape
    assert (attributions[units < 0] == 0).all()
    assert attributions[units >= 0].abs().sum() > 0
    assert not layer._forward_hooks and not model.training
    assert [p.requires_grad for p in model.parameters()] == flags


@pytest.mark.parametrize("name", sorted(set(CONFIGS) - {"gpt2"}))
def test_full_embedding_block_is_found(name):
    model = tiny(name)
    block = get_embedding_layer(model, "full")
    assert model.get_input_embeddings() in list(block.modules())
    ids, mask, _ = padded_batch()
    LayerIntegratedGradients(ClassifierForward(model), block).attribute(
        ids, target=0, additional_forward_args=(mask,), n_steps=4
    )


def test_gpt2_has_no_embedding_block():
    with pytest.raises(ValueError, match="use kind='tokens'"):
        get_embedding_layer(tiny("gpt2"), "full")


def test_bad_arguments():
    with pytest.raises(ValueError, match="`kind` must be one of"):
        get_embedding_layer(tiny("bert"), "words")
    with pytest.raises(ValueError, match="0 nn.Embedding layers.*`layer`"):
        get_embedding_layer(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="`model` must be a Module"):
        get_embedding_layer("bert")
    with pytest.raises(ValueError, match="`output` must be one of"):
        ClassifierForward(tiny("bert"), output="softmax")


def test_embeddings_input_matches_ids_input():
    model = tiny("bert")
    ids, mask, _ = padded_batch()
    forward = ClassifierForward(model)
    embeddings = model.get_input_embeddings()(ids)
    torch.testing.assert_close(forward(embeddings, mask), forward(ids, mask))


def test_single_logit_probabilities_use_sigmoid():
    model = AutoModelForSequenceClassification.from_config(
        BertConfig(**BERT_LIKE, vocab_size=VOCAB, num_labels=1)
    ).eval()
    ids, mask, _ = padded_batch()
    logits = ClassifierForward(model)(ids, mask)
    torch.testing.assert_close(
        ClassifierForward(model, "probs")(ids, mask), torch.sigmoid(logits)
    )


@pytest.fixture
def tokenizer():
    words = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "the",
        "film",
        "is",
        "un",
        "##bear",
        "##able",
        "great",
        ",",
        "a",
        "plot",
    ]
    return BertTokenizerFast(vocab={w: i for i, w in enumerate(words)})


def test_word_feature_mask_groups_pieces_and_excludes_specials(tokenizer):
    enc = tokenizer(
        ["the film is unbearable", "great film"], padding=True, return_tensors="pt"
    )
    # [CLS] the film is un ##bear ##able [SEP] / [CLS] great film [SEP] [PAD]...
    expected = torch.tensor(
        [[-1, 0, 1, 2, 3, 3, 3, -1], [-1, 0, 1, -1, -1, -1, -1, -1]]
    )
    assert torch.equal(word_feature_mask(enc), expected)
    with_special = word_feature_mask(enc, include_special=True)
    assert with_special[0].tolist() == [4, 0, 1, 2, 3, 3, 3, 5]
    assert with_special[1].tolist() == [2, 0, 1, 3, -1, -1, -1, -1]
    tokens = token_feature_mask(enc)
    assert tokens[0].tolist() == [-1, 1, 2, 3, 4, 5, 6, -1]
    assert unit_texts(tokenizer, enc["input_ids"], word_feature_mask(enc)) == [
        ["the", "film", "is", "unbearable"],
        ["great", "film"],
    ]


def test_word_feature_mask_numbers_pairs_consecutively(tokenizer):
    enc = tokenizer(["the film"], ["a great plot"], return_tensors="pt")
    # [CLS] the film [SEP] a great plot [SEP]
    assert word_feature_mask(enc)[0].tolist() == [-1, 0, 1, -1, 2, 3, 4, -1]


def test_slow_tokenizer_output_is_refused():
    with pytest.raises(TypeError, match="fast tokenizer"):
        word_feature_mask({"input_ids": [[1, 2]]})


def test_kept_word_ids_are_the_words_truncation_left(tokenizer):
    words = [["the", "film", "is", "unbearable"], ["great", "film"]]
    enc = tokenizer(
        words,
        is_split_into_words=True,
        truncation=True,
        max_length=6,
        padding=True,
        return_tensors="pt",
    )
    # [CLS] the film is un [SEP] (half of "unbearable" kept) / [CLS] great film [SEP]
    assert kept_word_ids(word_feature_mask(enc)) == [[0, 1, 2, 3], [0, 1]]
    short = tokenizer(
        words[0],
        is_split_into_words=True,
        truncation=True,
        max_length=4,
        return_tensors="pt",
    )
    assert kept_word_ids(word_feature_mask(short)[0]) == [[0, 1]]
