"""LAFA's SST protocol (Zhang et al., NAACL 2022) with the shared MiniLM
SST-2 classifier: per-sentence Pearson correlation between a method's word scores
and the gold word importance |centred SST leaf sentiment|, averaged over dev
sentences.

Run from the repository root (defaults are the numbers in RESULTS.md, sized for
a shared 2-core CPU; the paper used 25 SmoothGrad samples and every test
sentence):

    python -m benchmarks.lafa.sst_plausibility --out benchmarks/lafa/RESULTS.md \
        --index-path /tmp/lafa_sst_pool1000.safetensors

Word scores: token scores summed over a word's sub-tokens. Squared-gradient
methods (SimpleGrad, SmoothGrad, LAFA) are magnitudes already; signed methods
(Grad x Input, Integrated Gradients, GradientSHAP) are summed over the embedding
dimensions and the word's tokens, then made absolute, since the gold is a
magnitude.
"""

import argparse
import datetime
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch
from benchmarks.common import machine
from captum.attr import GradientShap, InputXGradient, IntegratedGradients
from torch import Tensor

from captum_nlp_ext.attr import LayerLAFA, NeighbourSearch, ReferenceIndex
from captum_nlp_ext.datasets import centred_word_sentiment, load_sst, resolve_models_dir
from captum_nlp_ext.huggingface import (  # noqa: E402
    ClassifierForward,
    get_embedding_layer,
    load_classifier,
    word_feature_mask,
)
from captum_nlp_ext.metrics import MetricResult, summarize, word_score_correlation

# Mean per-sentence Pearson correlation reported by the paper (SST-2 test,
# DistilBERT), for comparison.
PAPER = {
    "Random": 0.039,
    "SimpleGrad": 0.441,
    "Grad x Input": 0.456,
    "Integrated Gradients": 0.468,
    "SmoothGrad": 0.484,
    "GradientSHAP": 0.400,
    "LAFA (SmoothGrad base)": 0.494,
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--split", default="dev", choices=("dev", "train"))
    parser.add_argument("--n-sentences", type=int, default=64)
    parser.add_argument("--skip", type=int, default=0, help="skip the first trees")
    parser.add_argument("--n-pool", type=int, default=1000)
    parser.add_argument(
        "--index-path",
        default=None,
        help="load the reference index from this .safetensors file if it exists, "
        "else build it and save it there",
    )
    parser.add_argument("--layer", type=int, default=2)
    parser.add_argument("--n-neighbours", type=int, default=10)
    parser.add_argument("--quantile", type=float, default=0.39)
    parser.add_argument("--lam", type=float, default=0.44)
    parser.add_argument("--kernel", default="indicator")
    parser.add_argument("--smoothgrad-samples", type=int, default=10)
    parser.add_argument("--noise-level", type=float, default=0.1)
    parser.add_argument("--ig-steps", type=int, default=20)
    parser.add_argument("--shap-samples", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--internal-batch-size", type=int, default=64)
    parser.add_argument(
        "--method",
        action="append",
        help="run only this method (repeat the option for several); default all",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write a markdown report")
    return parser.parse_args(argv)


def load_sentences(args: argparse.Namespace) -> List:
    """Binary-rooted SST trees (the SST-2 view), in file order."""
    trees = load_sst(args.split, data_dir=args.data_dir)
    binary = [t for t in trees if t.label is not None][args.skip :]
    return binary[: args.n_sentences]


def pool_texts(args: argparse.Namespace) -> List[str]:
    trees = load_sst("train", data_dir=args.data_dir)
    return [" ".join(t.words) for t in trees[: args.n_pool]]


class Methods:
    """Every compared method: a function of a tokenized batch returning
    (batch, tokens) token scores."""

    def __init__(self, model, index, args) -> None:
        self.forward = ClassifierForward(model)
        self.layer = get_embedding_layer(model)
        self.args = args
        lafa_settings = dict(
            search=NeighbourSearch(args.n_neighbours, quantile=args.quantile),
            kernel=args.kernel,
        )
        self.lafa: Dict[str, LayerLAFA] = {}
        if index is not None:
            for name, base, lam, normalize in (
                ("SmoothGrad", "smoothgrad", 0.0, False),
                ("LAFA (SmoothGrad base)", "smoothgrad", args.lam, False),
                ("SimpleGrad", "saliency", 0.0, False),
                ("LAFA (SimpleGrad base)", "saliency", args.lam, False),
                ("LAFA (SimpleGrad base, normalized)", "saliency", args.lam, True),
            ):
                self.lafa[name] = LayerLAFA(
                    self.forward,
                    self.layer,
                    index,
                    base=base,
                    lam=lam,
                    normalize=normalize,
                    **lafa_settings,
                )

    def table(self) -> Dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]]:
        methods: Dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
            "Random": self.random,
            "Grad x Input": self.grad_x_input,
            "Integrated Gradients": self.integrated_gradients,
            "GradientSHAP": self.gradient_shap,
        }
        for name in self.lafa:
            methods[name] = self._lafa(name)
        return methods

    def random(self, ids: Tensor, mask: Tensor, target: Tensor) -> Tensor:
        generator = torch.Generator().manual_seed(self.args.seed + int(ids.sum()))
        return torch.rand(ids.shape, generator=generator)

    def _embeddings(self, ids: Tensor) -> Tensor:
        with torch.no_grad():
            return self.layer(ids)

    def grad_x_input(self, ids: Tensor, mask: Tensor, target: Tensor) -> Tensor:
        method = InputXGradient(self.forward)
        return method.attribute(
            self._embeddings(ids), target, additional_forward_args=(mask,)
        ).sum(-1)

    def integrated_gradients(self, ids: Tensor, mask: Tensor, target: Tensor) -> Tensor:
        method = IntegratedGradients(self.forward)
        return method.attribute(
            self._embeddings(ids),
            baselines=0.0,
            target=target,
            additional_forward_args=(mask,),
            n_steps=self.args.ig_steps,
            internal_batch_size=self.args.internal_batch_size,
        ).sum(-1)

    def gradient_shap(self, ids: Tensor, mask: Tensor, target: Tensor) -> Tensor:
        torch.manual_seed(self.args.seed)
        embeddings = self._embeddings(ids)
        method = GradientShap(self.forward)
        return method.attribute(
            embeddings,
            baselines=torch.zeros_like(embeddings[:1]),
            target=target,
            additional_forward_args=(mask,),
            n_samples=self.args.shap_samples,
            stdevs=0.0,
        ).sum(-1)

    def _lafa(self, name: str) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
        def run(ids: Tensor, mask: Tensor, target: Tensor) -> Tensor:
            return self.lafa[name].attribute(
                ids,
                target=target,
                additional_forward_args=(mask,),
                n_samples=self.args.smoothgrad_samples,
                stdevs=self.args.noise_level,
                internal_batch_size=self.args.internal_batch_size,
                seed=self.args.seed,
            )

        return run


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, MetricResult]:
    args = parse_args(argv)
    started = time.time()
    load_at_start = os.getloadavg()
    model, tokenizer = load_classifier(
        resolve_models_dir(args.models_dir) / "minilm-sst2"
    )
    sentences = load_sentences(args)
    wanted = None if args.method is None else set(args.method)
    needs_index = wanted is None or any(
        m.startswith(("LAFA", "SmoothGrad", "SimpleGrad")) for m in wanted
    )
    index, index_seconds = None, 0.0
    if needs_index:
        t0 = time.time()
        if args.index_path and os.path.exists(args.index_path):
            index = ReferenceIndex.load(args.index_path, model)
        else:
            index = ReferenceIndex.build(
                model,
                pool_texts(args),
                tokenizer,
                layer_index=args.layer,
                batch_size=64,
            )
            if args.index_path:
                index.save(args.index_path)
        if len(index) != args.n_pool or index.layer != args.layer:
            raise ValueError(f"{args.index_path} holds another pool: {index}")
        index_seconds = time.time() - t0
        print(f"reference index: {index} in {index_seconds:.0f} s", flush=True)
    runner = Methods(model, index, args)
    methods = runner.table()
    if wanted is not None:
        methods = {k: v for k, v in methods.items() if k in wanted}
    seconds = {name: 0.0 for name in methods}
    stats: Dict = {"correct": 0, "neighbours": [], "load_at_start": load_at_start}
    # Sentences of similar length share a batch (less padding).
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i].words))
    per_sentence: Dict[str, Tensor] = {}
    for start in range(0, len(order), args.batch_size):
        chunk = [sentences[i] for i in order[start : start + args.batch_size]]
        encoding = tokenizer(
            [list(s.words) for s in chunk],
            is_split_into_words=True,
            padding=True,
            truncation=True,
            max_length=128,
            return_tensors="pt",
        )
        ids, mask = encoding["input_ids"], encoding["attention_mask"]
        words = word_feature_mask(encoding)
        gold = [centred_word_sentiment(s.word_scores) for s in chunk]
        rows = torch.tensor(order[start : start + args.batch_size])
        with torch.no_grad():
            target = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
        stats["correct"] += int(
            (target == torch.tensor([s.label for s in chunk])).sum()
        )
        if index is not None:
            found = runner.lafa["LAFA (SmoothGrad base)"].neighbours(
                ids, target, additional_forward_args=(mask,)
            )
            stats["neighbours"].extend((found.indices >= 0).sum(1).tolist())
        for name, method in methods.items():
            t0 = time.time()
            token_scores = method(ids, mask, target).detach().double()
            seconds[name] += time.time() - t0
            # Word = sum of its tokens, then |.|: a no-op for the squared
            # gradient norms, the magnitude for the signed methods.
            result = word_score_correlation(token_scores, gold, feature_mask=words)
            values = per_sentence.setdefault(
                name, torch.zeros(len(sentences), dtype=torch.float64)
            )
            values[rows] = result.per_example
        print(
            f"{min(start + args.batch_size, len(order))}/{len(order)} sentences, "
            f"{time.time() - started:.0f} s",
            flush=True,
        )
    results = {
        name: summarize("pearson", per_sentence[name], method=name) for name in methods
    }
    total = time.time() - started
    stats.update(seconds=seconds, index_seconds=index_seconds, total=total)
    report = render(args, results, stats, len(sentences), argv)
    print(report)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(report)
    return results


def render(
    args: argparse.Namespace,
    results: Dict[str, MetricResult],
    stats: Dict,
    n: int,
    argv: Optional[Sequence[str]],
) -> str:
    command = "python -m benchmarks.lafa.sst_plausibility " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        "# LAFA: SST word-sentiment plausibility (Pearson), MiniLM SST-2",
        "",
        f"- Command: `{command.strip()}`",
        f"- Date: {datetime.datetime.now().isoformat(timespec='minutes')}",
        f"- Machine: {machine()}; shared (load average "
        f"{stats['load_at_start'][0]:.1f} at start)",
        f"- Run time: {stats['total']:.0f} s in all; reference index built (or loaded) "
        f"in {stats['index_seconds']:.0f} s",
        "",
        "## Results",
        "",
        "| method | mean Pearson | 95% CI | sentences | seconds | paper (SST-2) |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in sorted(results.items(), key=lambda kv: kv[1].mean):
        paper = PAPER.get(name)
        lines.append(
            f"| {name} | {result.mean:.3f} | [{result.ci_low:.3f}, "
            f"{result.ci_high:.3f}] | {result.n} | {stats['seconds'][name]:.0f} | "
            f"{'' if paper is None else f'{paper:.3f}'} |"
        )
    pairs = [
        ("LAFA (SmoothGrad base)", "SmoothGrad"),
        ("LAFA (SimpleGrad base)", "SimpleGrad"),
        ("LAFA (SimpleGrad base, normalized)", "SimpleGrad"),
    ]
    diffs = []
    for better, worse in pairs:
        if better in results and worse in results:
            values = results[better].per_example - results[worse].per_example
            diffs.append((better, worse, summarize("difference", values)))
    if diffs:
        lines += ["", "Paired per-sentence differences (same sentences):", ""]
        for better, worse, d in diffs:
            lines.append(
                f"- {better} - {worse}: {d.mean:+.4f} [{d.ci_low:+.4f}, "
                f"{d.ci_high:+.4f}] (n={d.n})"
            )
    lines += [
        "",
        "## Settings",
        "",
        f"- Sentences: the first {n} binary-rooted SST {args.split} trees after "
        f"skipping {args.skip} (neutral roots dropped: the SST-2 view); a "
        "sentence whose gold or scores are constant has no correlation and is "
        "left out (the `sentences` column). Model accuracy on them: "
        f"{stats['correct'] / max(n, 1):.3f}. Predicted class explained.",
        "- Gold: |(leaf label - 2) / 2| per word; word score = sum over its "
        "WordPiece tokens; signed methods made absolute after the sum.",
        f"- Reference pool: the first {args.n_pool} SST train sentences, "
        f"hidden layer {args.layer}, mean pooling; M = {args.n_neighbours}, "
        f"distance cut-off = {args.quantile} quantile of pool pairwise "
        f"distances, same predicted class, kernel {args.kernel}, lambda = "
        f"{args.lam}; 'normalized' = LayerLAFA(normalize=True), each text's "
        "base scores divided by their sum first.",
    ]
    counts = stats["neighbours"]
    if counts:
        lines.append(
            f"- Neighbours found: {sum(counts) / len(counts):.2f} per sentence on "
            f"average; {counts.count(0)} of {len(counts)} sentences had none (LAFA "
            "= its base there)."
        )
    lines += [
        f"- SmoothGrad (LAFA's base with lambda = 0, the same noise): "
        f"{args.smoothgrad_samples} samples, noise standard deviation "
        f"{args.noise_level} x (max - min) of the sentence's embeddings, seed "
        f"{args.seed}. SimpleGrad = LAFA's saliency base with lambda = 0.",
        "- Grad x Input, Integrated Gradients and GradientSHAP: Captum's "
        "InputXGradient, IntegratedGradients and GradientShap on the word "
        "embeddings (the model fed `inputs_embeds`), reference = zero "
        f"embeddings (the paper's 'zero reference'); IG {args.ig_steps} steps, "
        f"GradientSHAP {args.shap_samples} samples without extra noise.",
        "- LAFA, SimpleGrad and SmoothGrad take gradients at the same layer, the "
        "word-embedding table (`get_embedding_layer(model)`).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
