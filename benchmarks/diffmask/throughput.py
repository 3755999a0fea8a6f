"""DiffMask's cost against a bare forward pass of the classifier: SST-2 dev
sentences in batches, the two timed alternately in one process (ratios within
one run, as the project measures speed).

Usage: python -m benchmarks.diffmask.throughput [--n 256] [--batch-size 32]
    [--rounds 5] [--threads 1] [--model-dir DIR] [--data-dir DIR]

The probe is an unfitted one: its cost does not depend on its weights.
"""

import argparse
import statistics
import time

import torch

from captum_nlp_ext.attr import DiffMask
from captum_nlp_ext.datasets import load_sst2, resolve_models_dir
from captum_nlp_ext.huggingface import load_classifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = args.model_dir or resolve_models_dir() / "minilm-sst2"
    model, tokenizer = load_classifier(folder)
    texts = [e.text for e in load_sst2("dev", args.data_dir, args.n)]
    batches = [
        tokenizer(
            texts[i : i + args.batch_size],
            padding=True,
            truncation=True,
            max_length=128,
            return_tensors="pt",
        )
        for i in range(0, len(texts), args.batch_size)
    ]
    diffmask = DiffMask(model)

    def bare():
        with torch.no_grad():
            for enc in batches:
                model(enc["input_ids"], enc["attention_mask"])

    def explain():
        for enc in batches:
            diffmask.attribute(
                enc["input_ids"], additional_forward_args=(enc["attention_mask"],)
            )

    bare()  # warm-up
    explain()
    ratios, seconds = [], []
    for _ in range(args.rounds):
        tick = time.perf_counter()
        bare()
        plain = time.perf_counter() - tick
        tick = time.perf_counter()
        explain()
        gated = time.perf_counter() - tick
        ratios.append(plain / gated)
        seconds.append((plain, gated))
    print(
        f"{len(texts)} sentences, batches of {args.batch_size}, {args.threads} "
        f"thread(s), {args.rounds} rounds"
    )
    for plain, gated in seconds:
        print(f"  bare forward {plain:.2f} s, DiffMask.attribute {gated:.2f} s")
    low, high = min(ratios), max(ratios)
    print(
        "DiffMask throughput / bare forward throughput: median "
        f"{statistics.median(ratios):.3f} (min {low:.3f}, max {high:.3f})"
    )


if __name__ == "__main__":
    main()
