import math
from itertools import product

import pytest
import torch
from torch import nn

from captum_nlp_ext.attr import LayerInputMarginalization
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.testing import tiny_bert_classifier
from captum_nlp_ext.testing.synthetic import N_SPECIAL

# Toy vocabulary of the hand-computed fixtures.
PAD, MASK, A, B, C = 0, 1, 2, 3, 4
# Each token adds its score to the logit of class 1 (class 0's logit is 0).
SCORES = [0.0, 0.0, 1.0, -1.0, 2.0]
# The toy MLM's distribution at every masked position: PAD is special and
# takes 0.1, so after removing it A, B, C have 1/3, 2/9, 4/9.
MLM_PROBS = [0.1, 0.0, 0.3, 0.2, 0.4]


class BagOfWords(nn.Module):
    """logits = [0, sum of the attended tokens' scores]."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(len(SCORES), 1)
        with torch.no_grad():
            self.embedding.weight.copy_(torch.tensor(SCORES).unsqueeze(1))
        self.calls = []

    def forward(self, ids, attention_mask=None):
        self.calls.append(ids.shape[0])
        mask = torch.ones_like(ids) if attention_mask is None else attention_mask
        logit = (self.embedding(ids).squeeze(-1) * mask).sum(1, keepdim=True)
        return torch.cat([torch.zeros_like(logit), logit], dim=1)


class ContextFreeMLM:
    """Log-probabilities MLM_PROBS at masked positions; records its inputs."""

    def __init__(self, vocab: int = len(MLM_PROBS)) -> None:
        self.log_probs = torch.tensor(MLM_PROBS + [0.0] * (vocab - len(MLM_PROBS)))
        self.log_probs = self.log_probs.log()
        self.seen = []

    def __call__(self, ids, attention_mask):
        self.seen.append((ids.clone(), attention_mask.clone()))
        return self.log_probs.expand(*ids.shape, -1).clone()


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def log2_odds(p):
    return math.log2(p / (1 - p))


def toy(**kwargs):
    model = BagOfWords()
    mlm = ContextFreeMLM()
    im = LayerInputMarginalization(
        model, model.embedding, mlm, mask_token_id=MASK, pad_token_id=PAD, **kwargs
    )
    return im, model, mlm


def expected_woe(original_logit, rest_logit, candidates):
    """WoE of a unit with hand-listed (probability, candidate logit) pairs;
    ``rest_logit`` is the logit of the tokens left when the unit is removed."""
    kept = sum(p for p, _ in candidates)
    marginal = sum(p * sigmoid(rest_logit + s) for p, s in candidates) / kept
    return log2_odds(sigmoid(original_logit)) - log2_odds(marginal)


def test_weight_of_evidence_by_hand():
    im, model, mlm = toy()
    ids = torch.tensor([[A, B]])
    attributions = im.attribute(ids, target=1)
    # p(1 | a b) = sigmoid(0); masking a leaves b (-1), masking b leaves a (+1).
    candidates = [(0.3, 1.0), (0.2, -1.0), (0.4, 2.0)]
    expected = [expected_woe(0.0, -1.0, candidates), expected_woe(0.0, 1.0, candidates)]
    assert attributions.dtype == torch.float64
    assert attributions[0].tolist() == pytest.approx(expected, abs=1e-6)
    # The MLM saw one unit masked at a time.
    masked = torch.cat([seen[0] for seen in mlm.seen])
    assert masked.tolist() == [[MASK, B], [A, MASK]]


def test_target_zero_flips_the_sign():
    im, _, _ = toy()
    ids = torch.tensor([[A, B, C]])
    assert torch.allclose(im.attribute(ids, target=0), -im.attribute(ids, target=1))


def test_top_k_mass_and_threshold_prune_by_hand():
    im, _, _ = toy()
    ids = torch.tensor([[A, B]])
    # Renormalized: C 4/9 > A 3/9 > B 2/9. Each setting keeps C alone, so the
    # marginal of unit 0 is sigmoid(-1 + 2): WoE = (0 - 1) / ln 2 bits.
    for options in ({"top_k": 1}, {"mass": 0.4}, {"threshold": 0.4}):
        attributions = im.attribute(ids, target=1, **options)
        assert attributions[0, 0].item() == pytest.approx(-1 / math.log(2)), options
    two = [(0.4, 2.0), (0.3, 1.0)]
    for options in ({"top_k": 2}, {"mass": 0.5}, {"threshold": 0.3}):
        attributions = im.attribute(ids, target=1, **options)
        assert attributions[0, 0].item() == pytest.approx(
            expected_woe(0.0, -1.0, two)
        ), options


def test_keep_original_false_drops_the_original_token():
    im, _, _ = toy()
    ids = torch.tensor([[A, B]])
    attributions = im.attribute(ids, target=1, keep_original=False)
    assert attributions[0, 0].item() == pytest.approx(
        expected_woe(0.0, -1.0, [(0.2, -1.0), (0.4, 2.0)])
    )
    assert attributions[0, 1].item() == pytest.approx(
        expected_woe(0.0, 1.0, [(0.3, 1.0), (0.4, 2.0)])
    )


def test_multi_token_unit_marginalizes_the_product_of_pieces():
    im, _, mlm = toy()
    ids = torch.tensor([[A, B, C, PAD]])
    feature_mask = torch.tensor([[0, 0, 1, -1]])
    attributions = im.attribute(
        ids,
        target=1,
        feature_mask=feature_mask,
        additional_forward_args=(torch.tensor([[1, 1, 1, 0]]),),
    )
    allowed = [(0.3, 1.0), (0.2, -1.0), (0.4, 2.0)]
    pairs = [(p * q, s + t) for (p, s), (q, t) in product(allowed, allowed)]
    word = expected_woe(2.0, 2.0, pairs)
    single = expected_woe(2.0, 0.0, allowed)
    assert attributions[0].tolist() == pytest.approx([word, word, single, 0.0])
    assert mlm.seen[0][0].tolist() == [[MASK, MASK, C, PAD], [A, B, MASK, PAD]]
    assert mlm.seen[0][1].tolist() == [[1, 1, 1, 0]] * 2
    # A beam of one keeps the likeliest pair, (C, C).
    narrow = im.attribute(ids, target=1, feature_mask=feature_mask, word_beam_size=1)
    assert narrow[0, 0].item() == pytest.approx(expected_woe(2.0, 2.0, [(1, 4.0)]))


def test_candidate_equal_to_the_input_reuses_the_unperturbed_pass():
    im, model, _ = toy()
    ids = torch.tensor([[A, B, C]])
    _, passes = im.attribute(ids, target=1, return_passes=True, internal_batch_size=4)
    # 3 units x 3 candidates, of which one per unit is the input itself.
    assert passes == {
        "classifier_rows": 1 + 6,
        "classifier_passes": 1 + 2,
        "mlm_rows": 3,
        "mlm_passes": 1,
        "candidates": 9,
    }
    assert model.calls == [1, 4, 2]
    _, none_reused = im.attribute(
        ids, target=1, keep_original=False, return_passes=True
    )
    assert none_reused["classifier_rows"] == 1 + none_reused["candidates"] == 7


def test_tuple_inputs_give_a_tuple():
    im, _, _ = toy()
    ids = torch.tensor([[A, B, C]])
    (attributions,) = im.attribute((ids,), target=1)
    assert torch.equal(attributions, im.attribute(ids, target=1))


def test_output_probs_matches_logits():
    im, model, mlm = toy()
    im_probs = LayerInputMarginalization(
        lambda ids: model(ids).softmax(-1),
        model.embedding,
        mlm,
        mask_token_id=MASK,
        pad_token_id=PAD,
        output="probs",
    )
    ids = torch.tensor([[A, B, C], [C, C, B]])
    assert torch.allclose(im.attribute(ids), im_probs.attribute(ids))


@pytest.fixture(scope="module")
def tiny_models():
    from transformers import BertConfig, BertForMaskedLM

    classifier = tiny_bert_classifier(20, seed=1)
    torch.manual_seed(2)
    mlm = BertForMaskedLM(
        BertConfig(
            vocab_size=20,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=32,
            pad_token_id=0,
        )
    ).eval()
    return classifier, mlm


def tiny_im(tiny_models):
    classifier, mlm = tiny_models
    return LayerInputMarginalization(
        ClassifierForward(classifier),
        get_embedding_layer(classifier),
        mlm,
        mask_token_id=4,
        special_token_ids=[0, 1, 2, 3],
    )


def padded_batch():
    ids = torch.tensor(
        [[1, 7, 9, 12, 15, 2, 0], [1, 5, 19, 2, 0, 0, 0], [1, 6, 8, 10, 11, 17, 2]]
    )
    return ids, (ids != 0).long()


def naive_woe(classifier, mlm, ids, attention, units, allowed, target):
    """The plain formula, one unit at a time: every allowed token (tuple of
    tokens for a multi-token unit) is a candidate, weighted by the product of the
    MLM's per-piece probabilities renormalized over the allowed tokens."""
    with torch.no_grad():
        logits = classifier(ids[None], attention_mask=attention[None]).logits
        p = logits.softmax(-1)[0, target].double().item()
        result = []
        for positions in units:
            masked = ids.clone()
            masked[positions] = 4
            out = mlm(masked[None], attention_mask=attention[None]).logits[0]
            probs = out[positions][:, allowed].double().softmax(-1)
            combos = list(product(range(len(allowed)), repeat=len(positions)))
            sentences = ids.repeat(len(combos), 1)
            weights = []
            for row, combo in enumerate(combos):
                sentences[row, positions] = torch.tensor([allowed[c] for c in combo])
                weights.append(
                    math.prod(probs[j, c].item() for j, c in enumerate(combo))
                )
            out = classifier(sentences, attention_mask=attention.expand_as(sentences))
            scores = out.logits.softmax(-1)[:, target].double()
            q = (torch.tensor(weights, dtype=torch.float64) * scores).sum().item()
            result.append(log2_odds(p) - log2_odds(q))
        return result


def test_pruning_off_equals_the_plain_formula(tiny_models):
    classifier, mlm = tiny_models
    ids, attention = padded_batch()
    feature_mask = torch.tensor([[-1, 0, 1, 1, 2, -1, -1]])
    attributions = tiny_im(tiny_models).attribute(
        ids[:1],
        additional_forward_args=(attention[:1],),
        feature_mask=feature_mask,
        threshold=0.0,
        word_beam_size=16 * 16,
    )
    target = int(classifier(ids[:1], attention_mask=attention[:1]).logits.argmax())
    expected = naive_woe(
        classifier,
        mlm,
        ids[0],
        attention[0],
        [[1], [2, 3], [4]],
        list(range(4, 20))[1:],
        target,
    )
    assert attributions[0, 1:5].tolist() == pytest.approx(
        [expected[0], expected[1], expected[1], expected[2]], abs=1e-6
    )
    assert attributions[0, [0, 5, 6]].abs().sum() == 0


def test_batched_equals_unbatched(tiny_models):
    im = tiny_im(tiny_models)
    im.mlm_batch_size = 2
    ids, attention = padded_batch()
    feature_mask = torch.tensor(
        [[-1, 0, 0, 1, 2, -1, -1], [-1, 0, 1, -1, -1, -1, -1], [-1, 0, 1, 2, 2, 3, -1]]
    )
    target = torch.tensor([1, 0, 1])
    batched, passes = im.attribute(
        ids,
        target=target,
        additional_forward_args=(attention,),
        feature_mask=feature_mask,
        mass=0.9,
        internal_batch_size=7,
        return_passes=True,
    )
    lengths = attention.sum(1).tolist()
    alone = [
        im.attribute(
            ids[i : i + 1, :n],
            target=int(target[i]),
            additional_forward_args=(attention[i : i + 1, :n],),
            feature_mask=feature_mask[i : i + 1, :n],
            mass=0.9,
        )
        for i, n in enumerate(lengths)
    ]
    for i, lone in enumerate(alone):
        length = lone.shape[1]
        assert torch.allclose(batched[i, :length], lone[0], atol=1e-6)
        assert batched[i, length:].abs().sum() == 0
    assert passes["mlm_rows"] == 3 + 2 + 4
    assert passes["mlm_passes"] == 5
    assert passes["classifier_passes"] == 1 + math.ceil(
        (passes["classifier_rows"] - 3) / 7
    )


def test_default_units_skip_special_tokens_and_padding(tiny_models):
    ids, attention = padded_batch()
    attributions = tiny_im(tiny_models).attribute(
        ids, additional_forward_args=(attention,)
    )
    special = (ids <= 3).nonzero(as_tuple=True)
    assert attributions[special].abs().sum() == 0
    assert (attributions[ids > 3] != 0).all()


def test_model_state_and_hooks_restored(tiny_models):
    classifier, mlm = tiny_models
    layer = get_embedding_layer(classifier)
    ids, attention = padded_batch()
    flags = [p.requires_grad for p in classifier.parameters()]
    next(classifier.parameters()).requires_grad_(False)
    flags[0] = False
    classifier.train()
    mlm.train()
    dropouts = [m for m in mlm.modules() if isinstance(m, nn.Dropout)]
    for dropout in dropouts:
        dropout.p = 0.5
    try:
        im = tiny_im(tiny_models)
        first = im.attribute(ids, additional_forward_args=(attention,), top_k=3)
        # The MLM ran in eval mode (its dropout would make the two differ).
        second = im.attribute(ids, additional_forward_args=(attention,), top_k=3)
        assert torch.equal(first, second)
        assert classifier.training and mlm.training
        assert all(m.training for m in mlm.modules())
        assert [p.requires_grad for p in classifier.parameters()] == flags
        assert not layer._forward_hooks

        calls = []

        def failing(inputs, mask):
            calls.append(1)
            if len(calls) > 1:
                raise RuntimeError("boom")
            return ClassifierForward(classifier)(inputs, mask)

        broken = LayerInputMarginalization(failing, layer, mlm, mask_token_id=4)
        with pytest.raises(RuntimeError, match="boom"):
            broken.attribute(ids, additional_forward_args=(attention,))
        assert not layer._forward_hooks
        assert mlm.training and classifier.training

        class BrokenMLM(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.dropout = nn.Dropout(0.1)

            def forward(self, ids, attention_mask):
                raise RuntimeError("mlm broke")

        broken_mlm = BrokenMLM().train()
        im = LayerInputMarginalization(
            ClassifierForward(classifier), layer, broken_mlm, mask_token_id=4
        )
        with pytest.raises(RuntimeError, match="mlm broke"):
            im.attribute(ids, additional_forward_args=(attention,))
        assert broken_mlm.training and broken_mlm.dropout.training
        assert not layer._forward_hooks
    finally:
        for dropout in dropouts:
            dropout.p = 0.1
        classifier.eval()
        mlm.eval()
        next(classifier.parameters()).requires_grad_(True)


def test_planted_keyword_ranks_first(keyword_task):
    classifier, test = keyword_task
    test, _ = test.split(40)
    keywords = torch.tensor([N_SPECIAL, N_SPECIAL + 1])

    def sentence_mlm(ids, attention_mask):
        # The task's own language model: a sentence holds exactly one keyword,
        # so a masked word is a keyword (either, equally likely) when no
        # keyword is left in view, and a filler word (uniform) otherwise.
        seen = torch.isin(ids, keywords).any(dim=1)
        vocab = torch.arange(test.vocab_size)
        keyword = torch.isin(vocab, keywords)
        allowed = torch.where(seen[:, None], ~keyword & (vocab > N_SPECIAL), keyword)
        log_probs = torch.zeros(allowed.shape).masked_fill(~allowed, -math.inf)
        return log_probs.unsqueeze(1).expand(-1, ids.shape[1], -1)

    im = LayerInputMarginalization(
        ClassifierForward(classifier),
        get_embedding_layer(classifier),
        sentence_mlm,
        mask_token_id=4,
        special_token_ids=range(N_SPECIAL),
    )
    attributions = im.attribute(
        test.input_ids,
        additional_forward_args=(test.attention_mask,),
        feature_mask=test.feature_mask,
        internal_batch_size=256,
    )
    top = attributions.argmax(dim=1)
    first = test.evidence[torch.arange(len(test)), top].float().mean()
    assert first >= 0.9
    assert (attributions[test.evidence] > 1).float().mean() >= 0.9


def test_vocabulary_mismatch_refused(tiny_models):
    classifier, mlm = tiny_models
    layer = get_embedding_layer(classifier)
    from transformers import BertConfig, BertForMaskedLM

    bigger = BertForMaskedLM(
        BertConfig(
            vocab_size=21,
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=1,
            intermediate_size=8,
        )
    )
    with pytest.raises(ValueError, match="Vocabulary mismatch.*20 tokens.*21"):
        LayerInputMarginalization(
            ClassifierForward(classifier), layer, bigger, mask_token_id=4
        )
    callable_mlm = ContextFreeMLM(vocab=30)
    im = LayerInputMarginalization(
        ClassifierForward(classifier), layer, callable_mlm, mask_token_id=4
    )
    with pytest.raises(ValueError, match="Vocabulary mismatch.*20 tokens.*30"):
        im.attribute(torch.tensor([[5, 6]]))


def test_mlm_without_mask_token_refused(tiny_models):
    classifier, mlm = tiny_models
    layer = get_embedding_layer(classifier)

    class CausalTokenizer:
        mask_token_id = None
        pad_token_id = 0
        all_special_ids = [0]

    for kwargs in ({}, {"tokenizer": CausalTokenizer()}):
        with pytest.raises(ValueError, match="no mask token.*mask_token_id"):
            LayerInputMarginalization(
                ClassifierForward(classifier), layer, mlm, **kwargs
            )


def test_bad_inputs(tiny_models):
    im = tiny_im(tiny_models)
    ids, attention = padded_batch()
    args = (attention,)
    with pytest.raises(ValueError, match="`target` \\[5, 5, 5\\] out of range"):
        im.attribute(ids, target=5, additional_forward_args=args)
    empty = torch.tensor([[-1, 0, 1, -1, -1, -1, -1], [-1] * 7, [-1, 0] + [-1] * 5])
    with pytest.raises(ValueError, match="example\\(s\\) \\[1\\] without any unit"):
        im.attribute(ids, additional_forward_args=args, feature_mask=empty)
    with pytest.raises(ValueError, match="\\[1\\] hold only special tokens"):
        im.attribute(torch.tensor([[1, 5, 2], [1, 2, 0]]))
    with pytest.raises(TypeError, match="`inputs` must be token ids"):
        im.attribute(torch.randn(2, 3, 32))
    with pytest.raises(TypeError, match="must hold integer token ids"):
        im.attribute(ids.float())
    with pytest.raises(ValueError, match="`inputs` holds token ids in \\[5, 20\\]"):
        im.attribute(torch.tensor([[5, 20]]))
    for name, value in (("threshold", 1.0), ("mass", 0.0), ("mass", 1.5)):
        with pytest.raises(ValueError, match=f"`{name}` must lie in"):
            im.attribute(ids, additional_forward_args=args, **{name: value})
    with pytest.raises(ValueError, match="`top_k` must be >= 1"):
        im.attribute(ids, additional_forward_args=args, top_k=0)
    with pytest.raises(TypeError, match="`keep_original` must be a bool"):
        im.attribute(ids, additional_forward_args=args, keep_original=1)


def test_bad_construction(tiny_models):
    classifier, mlm = tiny_models
    forward = ClassifierForward(classifier)
    layer = get_embedding_layer(classifier)
    with pytest.raises(TypeError, match="`layer` must be the classifier's token"):
        LayerInputMarginalization(forward, nn.Linear(2, 2), mlm, mask_token_id=4)
    with pytest.raises(TypeError, match="`mlm` must be a masked language model"):
        LayerInputMarginalization(forward, layer, "bert", mask_token_id=4)
    with pytest.raises(ValueError, match="`mask_token_id` 20 is outside"):
        LayerInputMarginalization(forward, layer, mlm, mask_token_id=20)
    with pytest.raises(ValueError, match="`output` must be one of"):
        LayerInputMarginalization(forward, layer, mlm, mask_token_id=4, output="x")
    model = BagOfWords()
    im = LayerInputMarginalization(
        model, model.embedding, ContextFreeMLM(), mask_token_id=MASK, output="probs"
    )
    with pytest.raises(ValueError, match="outside \\[0, 1\\] but `output` is 'probs'"):
        im.attribute(torch.tensor([[A, B, C]]))


def test_mlm_batch_size_moved_to_the_constructor_still_works_per_call(tiny_models):
    classifier, mlm = tiny_models
    ids, attention = padded_batch()
    args = dict(target=1, additional_forward_args=(attention,), return_passes=True)
    im = LayerInputMarginalization(
        ClassifierForward(classifier),
        get_embedding_layer(classifier),
        mlm,
        mask_token_id=4,
        special_token_ids=[0, 1, 2, 3],
        mlm_batch_size=2,
    )
    new, new_passes = im.attribute(ids, **args)
    old_im = tiny_im(tiny_models)
    with pytest.warns(FutureWarning, match="pass it to LayerInputMarginalization"):
        old, old_passes = old_im.attribute(ids, mlm_batch_size=2, **args)
    assert torch.equal(new, old) and new_passes == old_passes
    assert new_passes["mlm_passes"] > 1  # two copies a pass: the setting took
    assert old_im.mlm_batch_size is None  # for that call only
    with pytest.raises(ValueError, match="`mlm_batch_size` must be >= 1"):
        LayerInputMarginalization(
            ClassifierForward(classifier),
            get_embedding_layer(classifier),
            mlm,
            mask_token_id=4,
            mlm_batch_size=0,
        )
