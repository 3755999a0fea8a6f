"""MaRC throughput: a batch of SST-2 sentences optimized together against the
same sentences optimized one at a time.

Usage: python benchmarks/mask_optimization/throughput.py [--n 32] [--steps 30]
       [--repeats 1]

Both runs take exactly ``--steps`` steps per sentence (``early_stopping=False``)
so that they do the same optimization; one at a time, each sentence is trimmed
of the batch's padding. The MiniLM SST-2 model, its embedding block as the
layer, words = PTB tokens. Prints the timings, the speed-up (goal >= 8) and the
largest difference between the two runs' masks (same seed: they should agree).
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine, sst2_batch, timed, today  # noqa: E402

from captum_nlp_ext.attr import LayerMaskOptimization  # noqa: E402
from captum_nlp_ext.huggingface import (  # noqa: E402
    ClassifierForward,
    get_embedding_layer,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--internal-batch-size",
        type=int,
        default=8,
        help="examples per pass of the grouped batched run",
    )
    args = parser.parse_args()

    model, _, ids, mask, units = sst2_batch(args.n)
    marc = LayerMaskOptimization(
        ClassifierForward(model), get_embedding_layer(model, kind="full")
    )
    settings = dict(max_steps=args.steps, early_stopping=False, seed=0)
    lengths = mask.sum(1).tolist()

    def batched(internal_batch_size=None):
        return marc.attribute(
            ids,
            additional_forward_args=(mask,),
            feature_mask=units,
            internal_batch_size=internal_batch_size,
            **settings,
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
        f"(padded to {ids.shape[1]}), {args.steps} steps each"
    )
    # First calls pay for lazy initialization and allocator growth.
    marc.attribute(
        ids, additional_forward_args=(mask,), feature_mask=units, max_steps=2
    )
    for repeat in range(args.repeats):
        t_batched, together = timed(batched)
        t_grouped, grouped_masks = timed(grouped)
        t_single, alone = timed(one_at_a_time)
        rate = args.n * args.steps
        difference = max(
            float((together - alone).abs().max()),
            float((grouped_masks - alone).abs().max()),
        )
        print(
            f"repeat {repeat}: one pass {t_batched:.1f} s "
            f"({rate / t_batched:.1f} example-steps/s, speed-up "
            f"{t_single / t_batched:.2f}x); passes of {args.internal_batch_size} "
            f"of like length {t_grouped:.1f} s ({rate / t_grouped:.1f}, "
            f"{t_single / t_grouped:.2f}x); one at a time {t_single:.1f} s "
            f"({rate / t_single:.1f}); largest mask difference {difference:.1e}"
        )


if __name__ == "__main__":
    main()
