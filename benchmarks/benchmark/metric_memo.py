"""The benchmark's removal metrics with and without the memoized forward
function (`captum_nlp_ext._utils.memo.MemoizedForward`): the same values, fewer
model rows, less time. Measured in one run, the two variants alternating.

Usage: python -m benchmarks.benchmark.metric_memo [--n 16] [--repeats 3]
"""

import argparse
import time

import torch
from benchmarks.common import machine, sst2_batch, today

from captum_nlp_ext._utils.memo import MemoizedForward
from captum_nlp_ext.engine.metrics import default_metrics, MetricBatch, METRICS
from captum_nlp_ext.huggingface import ClassifierForward


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model, tokenizer, ids, attention, words = sst2_batch(args.n)
    forward = ClassifierForward(model)
    with torch.no_grad():
        target = forward(ids, attention).argmax(1)
    # Three methods' worth of scores for the same batch, as the runner has.
    scores = [
        torch.rand(ids.shape, generator=torch.Generator().manual_seed(s))
        for s in range(3)
    ]
    metrics = default_metrics(False, False)

    def run(metric_forward):
        values = []
        start = time.perf_counter()
        with torch.no_grad():
            for attributions in scores:
                batch = MetricBatch(
                    metric_forward,
                    tokenizer,
                    ids,
                    (attention,),
                    words,
                    target,
                    attributions,
                )
                values.append([METRICS[m].compute(batch) for m in metrics])
        return time.perf_counter() - start, values

    print(
        f"{machine()}, {today()}; {args.n} SST-2 dev sentences x 3 score sets x "
        f"{metrics}"
    )
    ratios = []
    for _ in range(args.repeats):
        plain_s, plain = run(forward)
        memo = MemoizedForward(forward)
        memo_s, memoized = run(memo)
        difference = max(
            abs(a - b)
            for per_method_plain, per_method_memo in zip(plain, memoized)
            for p, q in zip(per_method_plain, per_method_memo)
            for a, b in zip(p.values, q.values)
            if a is not None and b is not None
        )
        ratios.append(plain_s / memo_s)
        print(
            f"plain {plain_s:.2f} s, memoized {memo_s:.2f} s; rows "
            f"{memo.requested_rows} requested, {memo.evaluated_rows} evaluated; "
            f"largest difference of a value {difference:.1e}"
        )
    print(
        f"speed-up, median of {args.repeats}: {sorted(ratios)[len(ratios) // 2]:.2f}x"
    )


if __name__ == "__main__":
    main()
