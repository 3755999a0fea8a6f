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
    args = parser.parse_args()

    model, _, ids, mask, units = sst2_batch(args.n)
    marc = LayerMaskOptimization(
        ClassifierForward(model), get_embedding_layer(model, kind="full")
    )
    settings = dict(max_steps=args.steps, early_stopping=False, seed=0)
    lengths = mask.sum(1).tolist()

    def batched():
        return marc.attribute(
            ids, additional_forward_args=(mask,), feature_mask=units, **settings
        )

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
    for repeat in range(args.repeats):
        t_batched, together = timed(batched)
        t_single, alone = timed(one_at_a_time)
        print(
            f"repeat {repeat}: together {t_batched:.1f} s "
            f"({args.n * args.steps / t_batched:.1f} example-steps/s), "
            f"one at a time {t_single:.1f} s "
            f"({args.n * args.steps / t_single:.1f} example-steps/s), "
            f"speed-up {t_single / t_batched:.2f}x, "
            f"largest mask difference {float((together - alone).abs().max()):.2e}"
        )


if __name__ == "__main__":
    main()
