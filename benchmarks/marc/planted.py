"""MaRC on the planted tasks of ``captum_nlp_ext.testing``: the share of the
held-out sentences whose evidence decides the prediction (it flips when the
evidence is replaced by [PAD]) where a word of the evidence gets the highest
mask, at the defaults and with the paper's width prior at every length.

Usage: python -m benchmarks.marc.planted [--seed 0]

Tiny two-layer BERTs trained in seconds (as in the tests); one torch thread.
"""

import argparse
import json

import torch
from benchmarks.common import evidence_first, planted_models

from captum_nlp_ext.attr import LayerMaskOptimization, MaskOptimizationSettings
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer

VARIANTS = {
    "defaults": {},
    "paper's width prior at every length (prior_length=None)": {"prior_length": None},
    "no width prior (width_weight=0)": {"width_weight": 0.0},
}


def marc(settings, seed):
    def explain(model, ids, mask, feature_mask):
        forward = ClassifierForward(model)
        method = LayerMaskOptimization(
            forward,
            get_embedding_layer(model, kind="full"),
            settings=MaskOptimizationSettings(**settings),
        )
        return method.attribute(
            ids,
            additional_forward_args=(mask,),
            feature_mask=feature_mask,
            seed=seed,
        )

    return explain


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| task | decided sentences | " + " | ".join(VARIANTS) + " |")
    print("|---|---|" + "---|" * len(VARIANTS))
    for name, model, test, accuracy in planted_models(args.seed):
        results = [
            evidence_first(model, test, marc(v, args.seed)) for v in VARIANTS.values()
        ]
        cells = " | ".join(f"{hits:.2f}" for _, hits in results)
        print(f"| {name} (train accuracy {accuracy:.2f}) | {results[0][0]} | {cells} |")
    print(json.dumps({"seed": args.seed}))


if __name__ == "__main__":
    main()
