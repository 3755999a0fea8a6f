"""MaRC on the planted tasks of ``captum_nlp_ext.testing``: the share of the
held-out sentences whose evidence decides the prediction (it flips when the
evidence is replaced by [PAD]) where a word of the evidence gets the highest
mask, at the defaults and with the paper's width prior at every length.

Usage: python benchmarks/mask_optimization/planted.py [--seed 0]

Tiny two-layer BERTs trained in seconds (as in the tests); one torch thread.
"""

import argparse
import json

import torch

from captum_nlp_ext.attr import LayerMaskOptimization
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.testing import (
    keyword_conjunction_task,
    negated_keyword_task,
    planted_keyword_task,
    tiny_bert_classifier,
    train_classifier,
)
from captum_nlp_ext.testing.synthetic import PAD

VARIANTS = {
    "defaults": {},
    "paper's width prior at every length (prior_length=None)": {"prior_length": None},
    "no width prior (width_weight=0)": {"width_weight": 0.0},
}


def tasks(seed):
    # (name, task, training sentences, training steps), as the tests train them
    yield "planted keyword", planted_keyword_task(n=600, seed=seed), 500, 120
    yield "keyword conjunction", keyword_conjunction_task(n=700, seed=seed), 600, 300
    negated = negated_keyword_task(
        n=700, n_fillers=10, min_words=3, max_words=6, seed=seed
    )
    yield "negated keyword", negated, 600, 300


def evidence_first(model, task, settings, seed):
    forward = ClassifierForward(model)
    with torch.no_grad():
        predicted = forward(task.input_ids, task.attention_mask).argmax(1)
        without = torch.where(task.evidence, PAD, task.input_ids)
        decided = forward(without, task.attention_mask).argmax(1) != predicted
    method = LayerMaskOptimization(forward, get_embedding_layer(model, kind="full"))
    masks = method.attribute(
        task.input_ids[decided],
        additional_forward_args=(task.attention_mask[decided],),
        feature_mask=task.feature_mask[decided],
        seed=seed,
        **settings,
    )
    scores = masks.masked_fill(task.feature_mask[decided] < 0, -1.0)
    top = scores.argmax(1)
    hits = task.evidence[decided][torch.arange(len(top)), top].float().mean()
    return int(decided.sum()), float(hits)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| task | decided sentences | " + " | ".join(VARIANTS) + " |")
    print("|---|---|" + "---|" * len(VARIANTS))
    for name, task, n_train, steps in tasks(args.seed):
        train, test = task.split(n_train)
        model = tiny_bert_classifier(task.vocab_size, seed=args.seed)
        accuracy = train_classifier(model, train, steps=steps)
        results = [evidence_first(model, test, v, args.seed) for v in VARIANTS.values()]
        cells = " | ".join(f"{hits:.2f}" for _, hits in results)
        print(f"| {name} (train accuracy {accuracy:.2f}) | {results[0][0]} | {cells} |")
    print(json.dumps({"seed": args.seed}))


if __name__ == "__main__":
    main()
