"""NLGP wall time / the same number of plain batched forward passes.

Usage: python -m benchmarks.nlgp.overhead [--n 32] [--samples 256] [--repeats 3]

Both are measured alternately in one run (the machine is noisy) on the MiniLM
SST-2 model and SST-2 dev sentences; the median ratio is the result (goal <= 1.15).
"""

import argparse
import statistics

import torch
from benchmarks.common import machine, sst2_batch, timed, today

from captum_nlp_ext._utils.batching import evaluate_rows
from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model, tokenizer, ids, mask, units = sst2_batch(args.n)
    forward = ClassifierForward(model)
    nlgp = LayerNLGP(forward, get_embedding_layer(model))
    rows = torch.arange(len(ids)).repeat_interleave(args.samples + 1)

    def run_nlgp():
        return nlgp.attribute(
            ids,
            additional_forward_args=(mask,),
            feature_mask=units,
            n_samples=args.samples,
            internal_batch_size=args.batch,
            seed=0,
        )

    def run_plain():
        with torch.no_grad():
            return evaluate_rows(
                forward, ids, (mask,), rows, None, internal_batch_size=args.batch
            )

    ratios, nlgp_times, plain_times = [], [], []
    run_plain()  # warm-up
    for _ in range(args.repeats):
        t_plain, _ = timed(run_plain)
        t_nlgp, _ = timed(run_nlgp)
        plain_times.append(t_plain)
        nlgp_times.append(t_nlgp)
        ratios.append(t_nlgp / t_plain)
    print(f"date: {today()}")
    print(f"machine: {machine()}")
    print(
        f"{args.n} SST-2 dev sentences, {args.samples} samples each, "
        f"internal batch {args.batch}, {len(rows)} forward rows per run"
    )
    print(f"plain forward passes (s): {[round(t, 2) for t in plain_times]}")
    print(f"NLGP (s):                 {[round(t, 2) for t in nlgp_times]}")
    print(f"ratio per repeat: {[round(r, 3) for r in ratios]}")
    print(f"median ratio: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
