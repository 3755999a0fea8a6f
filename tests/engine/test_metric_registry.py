"""The benchmark's Delta Accuracy: one value per example, from the metric."""

import pytest
import torch
from benchmark_toys import make_tokenizer

from captum_nlp_ext.engine.metrics import MetricBatch, METRICS
from captum_nlp_ext.metrics import delta_accuracy, Removal

CUE = 10  # "good"


def forward(input_ids, attention_mask):
    # Positive exactly while the cue is present.
    cue = (input_ids == CUE).float().sum(1)
    return torch.stack([torch.full_like(cue, 0.5), cue], dim=1)


def batch_for(attributions: torch.Tensor) -> MetricBatch:
    tokenizer = make_tokenizer()
    # [CLS] the film is good and fun fine long story [SEP]; [CLS] good [SEP] ...
    input_ids = torch.tensor(
        [[1, 6, 7, 16, CUE, 20, 23, 12, 24, 21, 2], [1, 6, CUE, 2, 0, 0, 0, 0, 0, 0, 0]]
    )
    mask = (input_ids != 0).long()
    feature_mask = torch.full_like(input_ids, -1)
    feature_mask[0, 1:10] = torch.arange(9)
    feature_mask[1, 1:3] = torch.arange(2)
    return MetricBatch(
        forward,
        tokenizer,
        input_ids,
        (mask,),
        feature_mask,
        torch.tensor([1, 1]),
        attributions,
    )


def test_delta_accuracy_counts_the_flipped_predictions():
    cue_first = torch.zeros(2, 11)
    cue_first[0, 4] = cue_first[1, 2] = 1.0
    cue_last = torch.arange(11.0).flip(0).repeat(2, 1)
    cue_last[0, 4] = cue_last[1, 2] = -1.0
    compute = METRICS["delta_accuracy"].compute
    assert compute(batch_for(cue_first)).values == [1.0, 1.0]
    # 9 words, cue last: no k of 1, 2, 3, 5 words or 10, 20% (1, 2 words)
    # reaches it; 2 words: k = 2, 3, 5 remove both, k = 1 and 10, 20% do not.
    assert compute(batch_for(cue_last)).values == pytest.approx([0.0, 0.5])


def test_delta_accuracy_is_the_mean_of_the_metric_over_k():
    attributions = torch.randn(2, 11, generator=torch.Generator().manual_seed(0))
    batch = batch_for(attributions)
    results = delta_accuracy(
        forward,
        batch.input_ids,
        attributions,
        feature_mask=batch.feature_mask,
        additional_forward_args=batch.additional_forward_args,
        removal=Removal("pad", tokenizer=batch.tokenizer),
    )
    flips = torch.stack(
        [r.per_example for k, r in results.items() if k.startswith("prediction")]
    )
    assert len(flips) == 6
    values = METRICS["delta_accuracy"].compute(batch).values
    assert values == pytest.approx(flips.mean(0).tolist())
