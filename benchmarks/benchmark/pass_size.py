"""Forward rows per second against rows per pass, on this CPU.

Captum's perturbation methods in the registry run one example at a time with
``perturbations_per_eval`` = the internal batch size (64): occlusion's 20-odd
rows of an SST-2 sentence make one pass, LIME's 128 two. Whether packing the
perturbations of several examples into fuller passes would pay depends on how
much a pass of few rows loses to one of many: this measures it, rounds of every
pass size alternating, on SST-2 dev sentences of one length each (no padding).

    OMP_NUM_THREADS=1 python -m benchmarks.benchmark.pass_size
"""

import argparse
import statistics
import time
from typing import Dict, List

import torch
from benchmarks.common import machine, sst2_model_and_sentences, today

from captum_nlp_ext.huggingface import ClassifierForward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="4,8,16,24,32,64,128")
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--lengths", default="12,24,48")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    model, tokenizer, examples = sst2_model_and_sentences(200)
    forward = ClassifierForward(model)
    print(f"date: {today()}")
    print(f"machine: {machine()}")
    print("| tokens a row | " + " | ".join(f"{s} rows/pass" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for length in (int(x) for x in args.lengths.split(",")):
        enc = tokenizer(
            [e.text for e in examples],
            truncation=True,
            max_length=length,
            padding="max_length",
            return_tensors="pt",
        )
        ids = enc["input_ids"][:, :length]
        mask = torch.ones_like(ids)
        rates: Dict[int, List[float]] = {s: [] for s in sizes}
        with torch.no_grad():
            forward(ids[:8], mask[:8])  # warm-up
            for _ in range(args.repeats):
                for size in sizes:
                    start = time.perf_counter()
                    for begin in range(0, args.rows, size):
                        rows = torch.arange(begin, min(begin + size, args.rows))
                        rows = rows % len(ids)
                        forward(ids[rows], mask[rows])
                    rates[size].append(args.rows / (time.perf_counter() - start))
        best = max(statistics.median(r) for r in rates.values())
        medians = {s: statistics.median(rates[s]) for s in sizes}
        cells = [f"{medians[s]:.0f} ({medians[s] / best:.2f})" for s in sizes]
        print(f"| {length} | " + " | ".join(cells) + " |", flush=True)
    print("rows per second, median of rounds (share of the best size)")


if __name__ == "__main__":
    main()
