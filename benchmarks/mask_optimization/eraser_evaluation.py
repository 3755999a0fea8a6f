"""ERASER movie reviews: MaRC against Occlusion, Integrated Gradients, LIME,
Shapley sampling and random scores, on plausibility (AUPRC, token F1, IOU F1
against the human rationales) and faithfulness (sufficiency and
comprehensiveness averaged over 5..95% of the words kept or removed, removed
words replaced by [PAD], as the spec's table).

Usage: python benchmarks/mask_optimization/eraser_evaluation.py
       [--docs 8] [--max-words 120] [--window 64] [--overlap 16]
       [--steps 900] [--samples 128] [--ig-steps 32]
       [--methods marc occlusion ig lime shapley random]

The classifier is the MiniLM SST-2 model used as is on overlapping windows
(see eraser_classifier.py); every method explains its prediction through the
same windows. Reviews can be cut to their first ``--max-words`` words (the
gold rationales with them; 0 keeps them whole) to fit a CPU budget; then only
reviews whose cut holds some rationale are kept. Hard rationales for token and
IOU F1: the top k words, k = the mean rationale length of the training split
(cut the same way). Units are ERASER's whitespace words. Every method but
random explains the predicted class with signed scores (evidence for it).
"""

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import torch
from captum._utils.models.linear_model import SGDLinearRegression
from captum.attr import (
    FeatureAblation,
    LayerIntegratedGradients,
    Lime,
    ShapleyValueSampling,
)
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, today  # noqa: E402
from windowed import encode_document  # noqa: E402

from captum_nlp_ext.attr import LayerMaskOptimization  # noqa: E402
from captum_nlp_ext.attr.rationales import mean_rationale_length  # noqa: E402
from captum_nlp_ext.datasets import load_eraser_movies, resolve_models_dir  # noqa: E402
from captum_nlp_ext.huggingface import (  # noqa: E402  # noqa: E402
    ClassifierForward,
    get_embedding_layer,
    load_classifier,
    WindowedClassifier,
)
from captum_nlp_ext.metrics import (  # noqa: E402
    aopc_comprehensiveness,
    aopc_sufficiency,
    auprc,
    iou_f1,
    MetricResult,
    Removal,
    summarize,
    token_f1,
)

PERCENTS = tuple(range(5, 100, 10))
METHODS = ("marc", "occlusion", "ig", "lime", "shapley", "random")


class Document:
    """One review, its windows and its prediction."""

    def __init__(self, model, tokenizer, example, args) -> None:
        self.ids, self.mask, self.units, self.rationale = encode_document(
            tokenizer, example, args.max_words
        )
        self.forward = WindowedClassifier(
            model, tokenizer.all_special_ids, args.window, args.overlap
        )
        with torch.no_grad():
            self.target = int(self.forward(self.ids, self.mask).argmax(1))
        self.label = example.label
        words = self.units >= 0
        # Captum's perturbation methods need non-negative feature ids: the
        # specials form one more feature whose baseline is themselves.
        self.captum_units = torch.where(words, self.units, int(self.units.max()) + 1)
        self.baseline = torch.where(words, tokenizer.pad_token_id, self.ids)


def explain(name: str, documents: List[Document], model, args) -> List[Tensor]:
    """(1, tokens) attributions of every document."""
    if name == "marc":
        return explain_marc(documents, model, args)
    runs: Dict[str, Callable[[Document], Tensor]] = {
        "occlusion": lambda d: FeatureAblation(d.forward).attribute(
            d.ids,
            baselines=d.baseline,
            target=d.target,
            additional_forward_args=(d.mask,),
            feature_mask=d.captum_units,
            perturbations_per_eval=16,
        ),
        "ig": lambda d: explain_ig(d, model, args),
        # Captum's default surrogate is scikit-learn's Lasso; without
        # scikit-learn, a linear least-squares surrogate fitted in torch.
        "lime": lambda d: Lime(
            d.forward, interpretable_model=SGDLinearRegression()
        ).attribute(
            d.ids,
            baselines=d.baseline,
            target=d.target,
            additional_forward_args=(d.mask,),
            feature_mask=d.captum_units,
            n_samples=args.samples,
            perturbations_per_eval=16,
        ),
        "shapley": lambda d: ShapleyValueSampling(d.forward).attribute(
            d.ids,
            baselines=d.baseline,
            target=d.target,
            additional_forward_args=(d.mask,),
            feature_mask=d.captum_units,
            n_samples=max(1, args.samples // int(d.units.max() + 1)),
            perturbations_per_eval=16,
        ),
        "random": lambda d: torch.rand(
            int(d.units.max()) + 1, generator=torch.Generator().manual_seed(0)
        )[d.units.clamp(min=0)]
        * (d.units >= 0),
    }
    with torch.no_grad() if name != "ig" else torch.enable_grad():
        return [runs[name](d).detach() * (d.units >= 0) for d in documents]


def explain_ig(document: Document, model, args) -> Tensor:
    # The token embeddings of the whole review, through the windows.
    return (
        LayerIntegratedGradients(
            document.forward, document.forward.get_input_embeddings()
        )
        .attribute(
            document.ids,
            baselines=document.baseline,
            target=document.target,
            additional_forward_args=(document.mask,),
            n_steps=args.ig_steps,
            internal_batch_size=args.ig_steps,
        )
        .sum(-1)
    )


def explain_marc(documents: List[Document], model, args) -> List[Tensor]:
    """All reviews optimized together, padded to the longest."""
    marc = LayerMaskOptimization(
        ClassifierForward(model), get_embedding_layer(model, kind="full")
    )
    ids, mask, units = (
        pad([getattr(d, name) for d in documents], fill)
        for name, fill in (
            ("ids", model.config.pad_token_id),
            ("mask", 0),
            ("units", -1),
        )
    )
    attributions = marc.attribute(
        ids,
        target=[d.target for d in documents],
        additional_forward_args=(mask,),
        feature_mask=units,
        window_size=args.window,
        window_overlap=args.overlap,
        max_steps=args.steps,
        seed=0,
    )
    return [a[: d.ids.shape[1]].unsqueeze(0) for a, d in zip(attributions, documents)]


def pad(rows: List[Tensor], fill: int) -> Tensor:
    length = max(r.shape[1] for r in rows)
    return torch.cat(
        [torch.nn.functional.pad(r, (0, length - r.shape[1]), value=fill) for r in rows]
    )


def evaluate(
    attributions: List[Tensor], documents: List[Document], k: int, pad_id: int
) -> List[MetricResult]:
    """Plausibility and faithfulness; word scores pool their tokens' as the
    metrics' ``pool="auto"`` does (a word-level method's shared score, else
    the sum)."""
    scores = pad(attributions, 0)
    units = pad([d.units for d in documents], -1)
    gold = pad([d.rationale for d in documents], 0)
    removal = Removal("pad", token_id=pad_id)
    with torch.no_grad():
        faithfulness = [
            [
                metric(
                    d.forward,
                    d.ids,
                    a,
                    percents=PERCENTS,
                    feature_mask=d.units,
                    target=d.target,
                    additional_forward_args=(d.mask,),
                    removal=removal,
                ).mean
                for a, d in zip(attributions, documents)
            ]
            for metric in (aopc_sufficiency, aopc_comprehensiveness)
        ]
    return [
        auprc(scores, gold, units),
        token_f1(scores, gold, units, k=k),
        iou_f1(scores, gold, units, k=k),
        summarize("sufficiency", torch.tensor(faithfulness[0])),
        summarize("comprehensiveness", torch.tensor(faithfulness[1])),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=8)
    parser.add_argument(
        "--max-words", type=int, default=120, help="0 keeps whole reviews"
    )
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--overlap", type=int, default=16)
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--ig-steps", type=int, default=32)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    args = parser.parse_args()
    args.max_words = args.max_words or None

    model, tokenizer = load_classifier(resolve_models_dir() / "minilm-sst2")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    train = load_eraser_movies("train")
    k = round(
        mean_rationale_length(
            e.rationale[: args.max_words] for e in train if e.rationale is not None
        )
    )
    # Cut reviews are kept only when their cut holds some human rationale, or
    # plausibility would be undefined for them.
    examples = [
        e for e in load_eraser_movies("val") if any(e.rationale[: args.max_words])
    ][: args.docs]
    documents = [Document(model, tokenizer, e, args) for e in examples]
    accuracy = sum(d.target == d.label for d in documents) / len(documents)
    windows = sum(int(d.forward.count_windows(d.ids, d.mask)) for d in documents)
    print(f"{machine()}, {today()}")
    print(
        f"ERASER movies val, the first {len(documents)} reviews whose first "
        f"{args.max_words} words hold some rationale, cut there; windows of "
        f"{args.window} tokens, overlap {args.overlap} ({windows} windows); "
        f"classifier accuracy on them {accuracy:.3f}; k = {k} words (train mean)"
    )
    print(
        "| method | AUPRC | token F1 | IOU F1 | sufficiency (lower better) | "
        "comprehensiveness | seconds |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.methods:
        torch.manual_seed(0)  # LIME's and Shapley sampling's draws
        start = time.perf_counter()
        attributions = explain(name, documents, model, args)
        seconds = time.perf_counter() - start
        results = evaluate(attributions, documents, k, tokenizer.pad_token_id)
        cells = " | ".join(
            f"{r.mean:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]" for r in results
        )
        print(f"| {name} | {cells} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
