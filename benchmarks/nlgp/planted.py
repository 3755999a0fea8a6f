"""NLGP's readings on the planted tasks of ``captum_nlp_ext.testing``: the share
of held-out sentences whose evidence decides the prediction where a word of the
evidence gets the highest score (the check behind the choice of the default
reading, beside the SST-2 dev study of ``readings.py``).

Usage: python -m benchmarks.nlgp.planted [--seed 0] [--samples 256]

Tiny two-layer BERTs trained in seconds (as in the tests); one torch thread.
"""

import argparse

import torch
from benchmarks.common import evidence_first, planted_models, split_settings

from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer

READINGS = {
    "toward [PAD], sigma 0.5 (default)": {},
    "toward [PAD], sigma 1.0": {"stdevs": 1.0},
    "scale, sigma 0.5 (earlier default)": {"perturbation": "scale"},
    "scale, sigma 1.0": {"perturbation": "scale", "stdevs": 1.0},
}


def nlgp(settings, samples, seed):
    def explain(model, ids, mask, feature_mask):
        made, call = split_settings(LayerNLGP, settings)
        method = LayerNLGP(ClassifierForward(model), get_embedding_layer(model), **made)
        return method.attribute(
            ids,
            additional_forward_args=(mask,),
            feature_mask=feature_mask,
            n_samples=samples,
            seed=seed,
            **call,
        )

    return explain


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"seed {args.seed}, n_samples {args.samples}")
    print("| task | decided sentences | " + " | ".join(READINGS) + " |")
    print("|---|---|" + "---|" * len(READINGS))
    for name, model, test, accuracy in planted_models(args.seed):
        results = [
            evidence_first(model, test, nlgp(r, args.samples, args.seed))
            for r in READINGS.values()
        ]
        cells = " | ".join(f"{hits:.2f}" for _, hits in results)
        print(f"| {name} (train accuracy {accuracy:.2f}) | {results[0][0]} | {cells} |")
        if name == "planted keyword":
            # The unit test's check: every held-out sentence, the gold class.
            strict = []
            for reading in READINGS.values():
                made, call = split_settings(LayerNLGP, reading)
                method = LayerNLGP(
                    ClassifierForward(model), get_embedding_layer(model), **made
                )
                scores = method.attribute(
                    test.input_ids,
                    target=test.labels,
                    additional_forward_args=(test.attention_mask,),
                    feature_mask=test.feature_mask,
                    n_samples=args.samples,
                    seed=args.seed,
                    **call,
                )
                strict.append(f"{test.evidence_ranked_first(scores):.2f}")
            print(
                f"| {name}, all {len(test.labels)} sentences, gold class (the "
                f"unit test's check) | {len(test.labels)} | {' | '.join(strict)} |"
            )


if __name__ == "__main__":
    main()
