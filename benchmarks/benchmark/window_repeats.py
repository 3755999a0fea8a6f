"""Windows passed once: perturbation methods on whole ERASER reviews through
:class:`captum_nlp_ext.huggingface.WindowedClassifier`, with and without the
merging of repeated windows.

A row of occlusion or Shapley sampling changes one word (or a few) of a long
review, so most of its windows are those of the unperturbed review: without
gradients the classifier passes each distinct window of a call once. This
script explains the first ``--docs`` validation reviews with Captum's
``FeatureAblation`` (words to [PAD]), ``ShapleyValueSampling`` (one
permutation) and ``Lime`` (128 samples; about half the words change in every
sample, so it has little to merge), through the movie classifier, and reports
the windows passed, the seconds of each setting (alternated in one run) and the
largest difference between the two attributions.

    OMP_NUM_THREADS=1 python -m benchmarks.benchmark.window_repeats --docs 2
"""

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch
from benchmarks.common import machine, timed, today
from benchmarks.marc.windowed import encode_document
from captum.attr import FeatureAblation, Lime, ShapleyValueSampling

import captum_nlp_ext.huggingface as huggingface
from captum_nlp_ext.datasets import load_eraser_movies, resolve_models_dir
from captum_nlp_ext.engine._surrogate import WeightedLeastSquares
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    load_classifier,
    WindowedClassifier,
)


def methods(forward: Any) -> Dict[str, Tuple[Any, Dict[str, Any]]]:
    """Each method with the settings of its ``attribute``."""
    return {
        "feature ablation (each word -> [PAD])": (FeatureAblation(forward), {}),
        "Shapley sampling (1 permutation of the words)": (
            ShapleyValueSampling(forward),
            {"n_samples": 1},
        ),
        # The benchmark's LIME: its surrogate needs no scikit-learn.
        "LIME (128 samples)": (
            Lime(forward, interpretable_model=WeightedLeastSquares()),
            {"n_samples": 128},
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model, tokenizer = load_classifier(resolve_models_dir() / "minilm-movies")
    classifier = WindowedClassifier(
        model, tokenizer.all_special_ids, args.window, args.overlap
    )
    forward = ClassifierForward(classifier, output="probs")
    pad = tokenizer.pad_token_id
    passed: List[int] = []
    model.register_forward_pre_hook(
        lambda m, a, kw: passed.append(kw["inputs_embeds"].shape[0]),
        with_kwargs=True,
    )
    merging = huggingface.distinct_rows
    print(f"{machine()}, {today()}; {Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}")
    print(
        "| method | review (tokens, windows) | windows passed, merged / not | "
        "seconds, merged / not | speed-up | max abs difference |"
    )
    print("|---|---|---|---|---|---|")
    totals: Dict[str, List[float]] = {}
    for example in load_eraser_movies("val", limit=args.docs):
        ids, mask, units, _ = encode_document(tokenizer, example)
        units = units.clamp(min=0)  # specials join word 0: one review, no padding
        specials = torch.tensor(tokenizer.all_special_ids)
        baseline = torch.where(torch.isin(ids, specials), ids, pad)
        with torch.no_grad():
            target = int(forward(ids, mask).argmax(1))
        windows = int(classifier.count_windows(ids, mask))
        for name, (method, settings) in methods(forward).items():
            runs = {}
            for merged in (True, False):
                # Merging has no switch in the library (nothing a user would
                # turn off), so the benchmark replaces the function it calls.
                huggingface.distinct_rows = merging if merged else lambda *a: None
                passed.clear()
                torch.manual_seed(0)
                seconds, scores = timed(
                    lambda: method.attribute(
                        ids,
                        baselines=baseline,
                        target=target,
                        additional_forward_args=(mask,),
                        feature_mask=units,
                        perturbations_per_eval=args.batch,
                        **settings,
                    )
                )
                runs[merged] = (seconds, sum(passed), scores)
            huggingface.distinct_rows = merging
            (s_on, w_on, a_on), (s_off, w_off, a_off) = runs[True], runs[False]
            totals.setdefault(name, [0.0, 0.0])
            totals[name][0] += s_on
            totals[name][1] += s_off
            print(
                f"| {name} | {ids.shape[1]}, {windows} | {w_on} / {w_off} | "
                f"{s_on:.1f} / {s_off:.1f} | {s_off / s_on:.2f}x | "
                f"{float((a_on - a_off).abs().max()):.1e} |"
            )
    for name, (on, off) in totals.items():
        print(f"{name}: {on:.0f} s merged, {off:.0f} s not, {off / on:.2f}x")


if __name__ == "__main__":
    main()
