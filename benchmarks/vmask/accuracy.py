"""Accuracy of classifiers on SST-2 dev (all 872 sentences), one line each.

Usage: python -m benchmarks.vmask.accuracy MODEL_DIR [MODEL_DIR ...] [--threads 1]

A folder saved by ``VMaskClassifier.save`` is read with its masks (their
expectation, as at inference).
"""

import argparse

import torch

from captum_nlp_ext.datasets import load_sst2
from captum_nlp_ext.huggingface import load_classifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = load_sst2("dev", args.data_dir)
    for folder in args.models:
        model, tokenizer = load_classifier(folder)
        correct = 0
        with torch.no_grad():
            for start in range(0, len(dev), 64):
                rows = dev[start : start + 64]
                enc = tokenizer(
                    [" ".join(e.words) for e in rows],
                    padding=True,
                    truncation=True,
                    max_length=128,
                    return_tensors="pt",
                )
                logits = model(enc["input_ids"], enc["attention_mask"]).logits
                labels = torch.tensor([e.label for e in rows])
                correct += int((logits.argmax(-1) == labels).sum())
        print(f"{folder}: SST-2 dev accuracy {correct / len(dev):.4f} ({len(dev)})")


if __name__ == "__main__":
    main()
