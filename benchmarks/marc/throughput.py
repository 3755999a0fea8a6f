"""MaRC throughput: a batch of SST-2 sentences optimized together against the
same sentences optimized one at a time.

Usage: python -m benchmarks.marc.throughput [--n 32] [--steps 3]
       [--repeats 5] [--internal-batch-size 8]

Both runs take exactly ``--steps`` steps per sentence (``early_stopping=False``)
so that they do the same optimization; one at a time, each sentence is trimmed
of the batch's padding. The MiniLM SST-2 model, its embedding block as the
layer, words = PTB tokens. Prints the timings, the speed-up (goal >= 8) and the
largest difference between the two runs' masks (same seed: they should agree).
"""

import argparse
import statistics
from typing import Any, Callable, Dict

import torch
from benchmarks.common import machine, sst2_batch, timed, today

from captum_nlp_ext.attr import LayerMaskOptimization, MaskOptimizationSettings
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--internal-batch-size",
        type=int,
        default=8,
        help="examples per pass of the grouped batched run",
    )
    args = parser.parse_args()

    model, _, ids, mask, units = sst2_batch(args.n)
    marc = LayerMaskOptimization(
        ClassifierForward(model),
        get_embedding_layer(model, kind="full"),
        settings=MaskOptimizationSettings(early_stopping=False),
    )
    settings = dict(max_steps=args.steps, seed=0)
    lengths = mask.sum(1).tolist()

    def batched(internal_batch_size=None, max_steps=args.steps):
        return marc.attribute(
            ids,
            additional_forward_args=(mask,),
            feature_mask=units,
            internal_batch_size=internal_batch_size,
            **{**settings, "max_steps": max_steps},
        )

    def grouped():
        return batched(args.internal_batch_size)

    def one_at_a_time():
        rows = []
        for i, length in enumerate(lengths):
            row = marc.attribute(
                ids[i : i + 1, :length],
                additional_forward_args=(mask[i : i + 1, :length],),
                feature_mask=units[i : i + 1, :length],
                **settings,
            )
            rows.append(torch.nn.functional.pad(row, (0, ids.shape[1] - length)))
        return torch.cat(rows)

    print(f"{machine()}, {today()}")
    print(
        f"{args.n} SST-2 dev sentences, {min(lengths)}-{max(lengths)} tokens "
        f"(padded to {ids.shape[1]}), {args.steps} steps each, "
        f"{args.repeats} alternating rounds"
    )
    # First calls pay for lazy initialization and allocator growth.
    batched(max_steps=2)
    runs: Dict[str, Callable[[], Any]] = {
        "one pass": batched,
        "passes of like length": grouped,
    }
    ratios: dict = {name: [] for name in runs}
    rates: dict = {name: [] for name in (*runs, "one at a time")}
    difference = 0.0
    for _ in range(args.repeats):
        t_single, alone = timed(one_at_a_time)
        rates["one at a time"].append(args.n * args.steps / t_single)
        for name, run in runs.items():
            seconds, masks = timed(run)
            ratios[name].append(t_single / seconds)
            rates[name].append(args.n * args.steps / seconds)
            difference = max(difference, float((masks - alone).abs().max()))
    for name, values in rates.items():
        print(f"{name}: example-steps/s per round " f"{[round(v, 1) for v in values]}")
    for name, values in ratios.items():
        print(
            f"speed-up of {name} over one at a time: per round "
            f"{[round(v, 2) for v in values]}, median "
            f"{statistics.median(values):.2f}x"
        )
    print(f"largest difference between the runs' masks: {difference:.1e}")


if __name__ == "__main__":
    main()
