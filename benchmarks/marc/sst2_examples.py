"""MaRC on a few SST-2 dev sentences, with the paper's settings (or another
width prior weight): each sentence's mean and largest mask value, its words with
their masks, the three highest in brackets, and the time taken.

Usage: python -m benchmarks.marc.sst2_examples [--n 6]
       [--width-weight 1.2]
"""

import argparse

from benchmarks.common import machine, sst2_batch, timed, today

from captum_nlp_ext.attr import LayerMaskOptimization, MaskOptimizationSettings
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    unit_texts,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--width-weight", type=float, default=1.2)
    args = parser.parse_args()

    model, tokenizer, ids, mask, units = sst2_batch(args.n)
    forward = ClassifierForward(model)
    marc = LayerMaskOptimization(
        forward,
        get_embedding_layer(model, kind="full"),
        settings=MaskOptimizationSettings(width_weight=args.width_weight),
    )
    seconds, attributions = timed(
        lambda: marc.attribute(
            ids, additional_forward_args=(mask,), feature_mask=units, seed=0
        )
    )
    predicted = forward(ids, mask).argmax(1).tolist()
    print(
        f"{machine()}, {today()}; width_weight={args.width_weight}; {args.n} "
        f"sentences together: {seconds:.0f} s"
    )
    for row, words in enumerate(unit_texts(tokenizer, ids, units)):
        scores = [
            float(attributions[row][units[row] == u][0]) for u in range(len(words))
        ]
        best = sorted(scores, reverse=True)[: min(3, len(scores))][-1]
        shown = " ".join(
            f"[{w} {s:.2f}]" if s >= best else f"{w} {s:.2f}"
            for w, s in zip(words, scores)
        )
        top = max(scores)
        mean = sum(scores) / len(scores)
        print(
            f"- ({'positive' if predicted[row] else 'negative'}; mean mask "
            f"{mean:.2f}, max {top:.2f}) {shown}"
        )


if __name__ == "__main__":
    main()
