"""Length-aware packing in the batching home: rows of all examples of a call in
passes of like length, each padded only to its own longest row."""

import torch

from captum_nlp_ext._utils.batching import attended_lengths, evaluate_rows
from captum_nlp_ext._utils.memo import MemoizedForward
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.metrics import CostMeter
from captum_nlp_ext.testing import tiny_bert_classifier

LENGTHS = [3, 12, 4, 11, 5, 12, 3, 10]


def _batch():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 30, (len(LENGTHS), 12), generator=generator)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(LENGTHS):
        mask[row, :length] = 1
    ids = torch.where(mask > 0, ids, 0)
    return ids, mask


def test_attended_lengths_need_a_named_attention_mask():
    model = tiny_bert_classifier(vocab_size=30)
    ids, mask = _batch()
    forward = ClassifierForward(model)
    assert attended_lengths(forward, ids, (mask,)).tolist() == LENGTHS
    # A function that does not say which argument is its mask is not trimmed.
    assert attended_lengths(lambda i, m: forward(i, m), ids, (mask,)) is None
    assert attended_lengths(forward, ids, ()) is None
    left = mask.flip(1)
    assert attended_lengths(forward, ids, (left,)).tolist() == [12] * len(LENGTHS)


def test_packed_rows_equal_unpacked_ones_with_little_padding():
    model = tiny_bert_classifier(vocab_size=30).eval()
    ids, mask = _batch()
    forward = ClassifierForward(model)
    layer = get_embedding_layer(model)
    # Four perturbed copies of each example, rows interleaved across examples.
    row_example = torch.arange(len(LENGTHS)).repeat(4)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        base = layer(ids)
        noise = 0.1 * torch.randn(
            len(row_example), *base.shape[1:], generator=generator
        )

        def layer_rows(rows):
            return base[row_example[rows]] + noise[rows]

        def run(function):
            with CostMeter(model) as meter:
                out = evaluate_rows(
                    function,
                    ids,
                    (mask,),
                    row_example,
                    None,
                    internal_batch_size=8,
                    layer=layer,
                    layer_rows=layer_rows,
                )
            return out, meter.cost

        packed, packed_cost = run(forward)
        plain, plain_cost = run(lambda i, m: forward(i, m))
    assert torch.allclose(packed, plain, atol=1e-5)
    tokens = sum(LENGTHS) * 4
    assert plain_cost.tokens == len(row_example) * 12
    assert plain_cost.padding_tokens == plain_cost.tokens - tokens
    assert packed_cost.tokens - packed_cost.padding_tokens == tokens
    # Sorted passes of 8 rows: lengths 3,3,4,5 / 10,11,12,12 four times over.
    assert packed_cost.padding_share < 0.05 < plain_cost.padding_share


def test_the_memo_finds_a_text_whatever_its_pass_width():
    model = tiny_bert_classifier(vocab_size=30).eval()
    ids, mask = _batch()
    memo = MemoizedForward(ClassifierForward(model))
    with torch.no_grad():
        wide = memo(ids, mask)
        short = memo(ids[:1, :3], mask[:1, :3])
    assert memo.evaluated_rows == len(LENGTHS)
    assert torch.equal(short[0], wide[0])
