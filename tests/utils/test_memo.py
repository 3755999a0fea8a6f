import torch

from captum_nlp_ext._utils.memo import MemoizedForward
from captum_nlp_ext.huggingface import ClassifierForward
from captum_nlp_ext.testing import tiny_bert_classifier


def test_distinct_rows_run_once_and_outputs_are_unchanged():
    forward = ClassifierForward(tiny_bert_classifier(vocab_size=30))
    memo = MemoizedForward(forward)
    ids = torch.randint(5, 30, (4, 7), generator=torch.Generator().manual_seed(0))
    attention = torch.ones_like(ids)
    attention[3, 5:] = 0
    repeated = torch.cat([ids, ids[:2]])
    with torch.no_grad():
        expected = forward(repeated, torch.cat([attention, attention[:2]]))
        first = memo(repeated, torch.cat([attention, attention[:2]]))
        assert memo.evaluated_rows == 4
        # same ids, other attention: a different row
        other = attention.clone()
        other[0, 6] = 0
        second = memo(ids, other)
    assert torch.allclose(first, expected, atol=1e-6)
    assert torch.allclose(second[1:], expected[1:4], atol=1e-6)
    assert torch.allclose(second[0], forward(ids[:1], other[:1])[0], atol=1e-6)
    assert memo.evaluated_rows == 5 and memo.requested_rows == 10


def test_gradients_and_embeddings_bypass_the_memo():
    calls = []

    def forward(inputs, mask):
        calls.append(inputs.shape[0])
        return inputs.float().sum(-1, keepdim=True) if inputs.dim() == 2 else inputs

    memo = MemoizedForward(forward)
    ids = torch.ones(2, 3, dtype=torch.long)
    memo(ids, None)
    memo(ids, None)
    with torch.no_grad():
        memo(ids, None)
        memo(ids, None)
        memo(torch.ones(2, 3, 4), None)
    assert calls == [2, 2, 1, 2]
