"""ERASER movie reviews: accuracy of the MiniLM SST-2 classifier, used as is,
on whole reviews classified from MaRC's overlapping windows.

Usage: python -m benchmarks.marc.eraser_classifier
       [--split val] [--limit N] [--window 512] [--overlap 100]

No fine-tuning: the SST-2 sentence classifier (trained on phrases of at most
64 tokens) reads each window; a review's class probabilities are the mean over
its windows, as MaRC's loss sees them. ERASER labels: NEG = 0, POS = 1, the
model's negative = 0, positive = 1.
"""

import argparse
import time

import torch
from benchmarks.common import machine, today
from benchmarks.marc.windowed import encode_document

from captum_nlp_ext.datasets import load_eraser_movies, resolve_models_dir
from captum_nlp_ext.huggingface import load_classifier, WindowedClassifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--window", type=int, nargs="+", default=[512])
    parser.add_argument("--overlap", type=int, nargs="+", default=[100])
    args = parser.parse_args()

    model, tokenizer = load_classifier(resolve_models_dir() / "minilm-sst2")
    examples = load_eraser_movies(args.split, limit=args.limit)
    documents = [encode_document(tokenizer, e)[:3] for e in examples]
    labels = torch.tensor([e.label for e in examples])
    lengths = torch.tensor([ids.shape[1] for ids, _, _ in documents]).float()
    print(f"{machine()}, {today()}")
    print(
        f"ERASER movies {args.split}: {len(examples)} reviews, "
        f"{lengths.mean():.0f} tokens on average (max {lengths.max():.0f})"
    )
    for window, overlap in zip(args.window, args.overlap):
        start = time.perf_counter()
        predictions, windows = [], []
        with torch.no_grad():
            classifier = WindowedClassifier(
                model, tokenizer.all_special_ids, window, overlap
            )
            for ids, mask, _ in documents:
                predictions.append(int(classifier(ids, mask).argmax(1)))
                windows.append(int(classifier.count_windows(ids, mask)))
        accuracy = (torch.tensor(predictions) == labels).float().mean()
        print(
            f"window {window}, overlap {overlap}: accuracy {accuracy:.3f} "
            f"({sum(windows) / len(windows):.1f} windows a review, "
            f"{time.perf_counter() - start:.0f} s)"
        )


if __name__ == "__main__":
    main()
