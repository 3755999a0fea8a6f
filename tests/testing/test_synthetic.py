import pytest
import torch

from captum_nlp_ext.testing import (
    keyword_conjunction_task,
    negated_keyword_task,
    tiny_bert_classifier,
    train_classifier,
)
from captum_nlp_ext.testing.synthetic import CLS, N_SPECIAL, PAD, SEP

NEGATION = N_SPECIAL + 2


def check_layout(task):
    """[CLS] words [SEP] [PAD]..., word ids on the words, -1 elsewhere."""
    ids, mask = task.input_ids, task.feature_mask
    assert (ids[:, 0] == CLS).all()
    lengths = (mask >= 0).sum(dim=1)
    assert (ids[torch.arange(len(task)), lengths + 1] == SEP).all()
    assert ((ids == PAD) == (task.attention_mask == 0)).all()
    words = mask >= 0
    assert (ids[words] >= N_SPECIAL).all() and (ids.max() < task.vocab_size)
    positions = torch.arange(ids.shape[1]).expand_as(ids) - 1
    assert (mask[words] == positions[words]).all()
    assert not (task.evidence & ~words).any()
    assert 0.4 < task.labels.float().mean() < 0.6


def test_negated_keyword_task_follows_its_rule():
    task = negated_keyword_task(400, seed=1)
    check_layout(task)
    ids = task.input_ids
    is_keyword = (ids == N_SPECIAL) | (ids == N_SPECIAL + 1)
    assert (is_keyword.sum(dim=1) == 1).all()
    position = is_keyword.long().argmax(dim=1)
    rows = torch.arange(len(task))
    polarity = ids[rows, position] - N_SPECIAL
    before = ids[rows, position - 1]
    negated = before == NEGATION
    # Negation words appear only right before the keyword, and flip the label.
    assert ((ids == NEGATION).sum(dim=1) == negated.long()).all()
    assert torch.equal(task.labels, polarity ^ negated.long())
    assert 0.35 < negated.float().mean() < 0.65
    # Evidence: the keyword, and the negation when there is one.
    expected = is_keyword.clone()
    expected[rows[negated], position[negated] - 1] = True
    assert torch.equal(task.evidence, expected)
    # No negation at all with p_negated=0: the planted-keyword rule.
    plain = negated_keyword_task(50, p_negated=0.0)
    assert not (plain.input_ids == NEGATION).any()


def test_keyword_conjunction_task_follows_its_rule():
    task = keyword_conjunction_task(400, seed=1)
    check_layout(task)
    ids = task.input_ids
    first, second = (ids == N_SPECIAL), (ids == N_SPECIAL + 1)
    assert (first.sum(dim=1) <= 1).all() and (second.sum(dim=1) <= 1).all()
    both = first.any(dim=1) & second.any(dim=1)
    assert torch.equal(task.labels, both.long())
    # Class 0 always has exactly one keyword, each half the time.
    alone = ~both
    assert (first.any(dim=1) | second.any(dim=1)).all()
    assert 0.35 < first[alone].any(dim=1).float().mean() < 0.65
    assert torch.equal(task.evidence, first | second)


def test_tasks_are_seeded_and_check_their_arguments():
    for make in (negated_keyword_task, keyword_conjunction_task):
        assert torch.equal(make(20, seed=4).input_ids, make(20, seed=4).input_ids)
        assert not torch.equal(make(20, seed=4).input_ids, make(20, seed=5).input_ids)
        with pytest.raises(ValueError, match="`min_words` must be >= 2"):
            make(10, min_words=1)
    train, test = keyword_conjunction_task(30).split(20)
    assert len(train) == 20 and len(test) == 10


@pytest.mark.parametrize(
    "make_task, sizes, settings",
    [
        (keyword_conjunction_task, dict(), dict(steps=200)),
        # The XOR of keyword and negation has a plateau: short sentences, few
        # fillers and larger batches let the tiny model leave it.
        (
            negated_keyword_task,
            dict(n_fillers=10, min_words=3, max_words=6),
            dict(steps=300, batch_size=64, lr=2e-3),
        ),
    ],
)
def test_a_tiny_model_learns_each_task(make_task, sizes, settings):
    task = make_task(1024, seed=0, **sizes)
    train, test = task.split(768)
    model = tiny_bert_classifier(task.vocab_size, seed=0)
    assert train_classifier(model, train, **settings) >= 0.95
    with torch.no_grad():
        logits = model(input_ids=test.input_ids, attention_mask=test.attention_mask)
    accuracy = (logits.logits.argmax(-1) == test.labels).float().mean()
    assert accuracy >= 0.95
