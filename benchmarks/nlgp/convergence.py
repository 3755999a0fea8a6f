"""What NLGP's convergence estimate says about its word ranking: SST-2 dev
sentences explained at several budgets, each fit's split-half disagreement
(``return_convergence_delta``) against the Spearman correlation of its word
scores with a fit of many more samples (the reference), binned by the
estimate; and the estimate by budget per word.

Usage: python -m benchmarks.nlgp.convergence [--n 100] [--budgets 16,32,64,128,256]
    [--reference 2048] [--threads 1]

The bins tell which estimate to warn at: above it, the words' order is mostly
noise (a low correlation with the reference). One torch thread by default.
"""

import argparse
import json

import torch

from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.datasets import load_sst2, resolve_models_dir
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    load_classifier,
    word_feature_mask,
)
from captum_nlp_ext.metrics._stats import masked_spearman

BINS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 1.01)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--budgets", default="16,32,64,128,256")
    parser.add_argument("--reference", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_classifier(resolve_models_dir() / "minilm-sst2")
    examples = load_sst2("dev", None, args.n)
    enc = tokenizer(
        [e.text.split() for e in examples],
        is_split_into_words=True,
        padding=True,
        return_tensors="pt",
    )
    units = word_feature_mask(enc)
    nlgp = LayerNLGP(
        ClassifierForward(model, output="probs"), get_embedding_layer(model)
    )
    run = dict(
        additional_forward_args=(enc["attention_mask"],),
        feature_mask=units,
        internal_batch_size=256,
    )
    reference = nlgp.attribute(
        enc["input_ids"], n_samples=args.reference, seed=10**6, **run
    )
    words = torch.stack([(units[i] >= 0) for i in range(len(units))])
    # one score a word: the first token of each unit carries it
    first = torch.zeros_like(words)
    for i in range(len(units)):
        seen = set()
        for t, u in enumerate(units[i].tolist()):
            if u >= 0 and u not in seen:
                seen.add(u)
                first[i, t] = True
    points = []
    for budget in [int(b) for b in args.budgets.split(",")]:
        scores, delta = nlgp.attribute(
            enc["input_ids"],
            n_samples=budget,
            seed=0,
            return_convergence_delta=True,
            **run,
        )
        rho = masked_spearman(scores, reference, first)
        for i in range(len(units)):
            count = int(first[i].sum())
            if count >= 3 and torch.isfinite(rho[i]):
                points.append((budget, count, float(delta[i]), float(rho[i])))
    print(
        "| convergence estimate | fits | median Spearman with the reference "
        "| share below 0.5 |"
    )
    print("|---|---|---|---|")
    for low, high in zip(BINS[:-1], BINS[1:]):
        inside = [p[3] for p in points if low <= p[2] < high]
        if not inside:
            continue
        median = float(torch.tensor(inside).median())
        below = sum(r < 0.5 for r in inside) / len(inside)
        span = f"[{low:.1f}, {min(high, 1.0):.1f})"
        print(f"| {span} | {len(inside)} | {median:.2f} | {below:.2f} |")
    print()
    print("| budget | median samples a word | median estimate | median Spearman |")
    print("|---|---|---|---|")
    for budget in sorted({p[0] for p in points}):
        mine = [p for p in points if p[0] == budget]
        per_word = torch.tensor([budget / p[1] for p in mine]).median()
        estimate = torch.tensor([p[2] for p in mine]).median()
        rho = torch.tensor([p[3] for p in mine]).median()
        print(
            f"| {budget} | {float(per_word):.1f} | {float(estimate):.2f} "
            f"| {float(rho):.2f} |"
        )
    print(json.dumps(dict(vars(args), fits=len(points))))


if __name__ == "__main__":
    main()
