"""Faithfulness of Captum's attribution methods on SST-2, with the real MiniLM.

Computes every faithfulness metric of :mod:`captum_nlp_ext.metrics` for
LayerIntegratedGradients, Input x Gradient on the embedding layer, Occlusion
(word-level, [MASK]), leave-one-out by deletion and random attributions on the
first N SST-2 dev sentences, and writes a markdown table of means with 95%
bootstrap intervals. Random attributions must score worst on every metric.

    python benchmarks/metrics_study/run_study.py --n 200

Models and data come from ``CAPTUM_NLP_MODELS`` / ``CAPTUM_NLP_DATA`` (default
``../shared/models`` and ``../shared/data``).
"""

import argparse
import copy
import datetime
import os
import platform
import sys
import time
from collections import defaultdict
from typing import Any, Callable, Dict, List, Tuple

import torch
from captum.attr import (
    FeatureAblation,
    LayerGradientXActivation,
    LayerIntegratedGradients,
)
from torch import Tensor

from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.datasets import load_sst2, resolve_models_dir
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    word_feature_mask,
)
from captum_nlp_ext.metrics import (
    aopc_comprehensiveness,
    aopc_sufficiency,
    auc_rep,
    comprehensiveness,
    deletion_curve,
    delta_accuracy,
    FERRET_PERCENTS,
    insertion_curve,
    kendall_tau_loo,
    leave_one_out,
    log_odds,
    MetricResult,
    Removal,
    soft_comprehensiveness,
    soft_sufficiency,
    sufficiency,
    summarize,
)

HERE = os.path.dirname(os.path.abspath(__file__))


class CachedForward:
    """The classifier for the removal metrics: memoized, and run by a faster copy.

    The metric functions are independent, so several of them evaluate the same
    perturbed sentence (comprehensiveness at 20% is a point of the deletion
    curve): identical (ids, attention) rows are run once. New rows run on
    ``fast`` (a bfloat16 copy of the classifier, 2.5x faster on this CPU) with
    their trailing all-padding columns cut, which leaves a BERT classifier's
    output unchanged (those positions are masked). Whenever gradients are on
    or a hook is registered on the model (gradient methods, soft erasure), the
    call goes to the float32 ``forward`` unchanged.
    """

    def __init__(self, forward: ClassifierForward, fast: ClassifierForward) -> None:
        self.forward = forward
        self.fast = fast
        self.modules = list(forward.model.modules())
        self.cache: Dict[bytes, Tensor] = {}
        self.hits = 0
        self.misses = 0

    def hooked(self) -> bool:
        return any(m._forward_hooks or m._forward_pre_hooks for m in self.modules)

    def __call__(self, ids: Tensor, attention_mask: Tensor) -> Tensor:
        if torch.is_grad_enabled() or self.hooked() or ids.is_floating_point():
            return self.forward(ids, attention_mask)
        keys = [
            i.numpy().tobytes() + a.numpy().tobytes()
            for i, a in zip(ids, attention_mask)
        ]
        missing = [r for r, key in enumerate(keys) if key not in self.cache]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            rows = torch.tensor(missing)
            attention = attention_mask[rows]
            length = int(attention.sum(dim=1).max())
            outputs = self.fast(ids[rows, :length], attention[:, :length]).float()
            for r, output in zip(missing, outputs):
                self.cache[keys[r]] = output
        return torch.stack([self.cache[key] for key in keys])


class MaskedPositionsMLM:
    """The MLM with its output head run only where the input holds [MASK].

    AUC_rep reads the MLM's logits at the masked positions alone; the other
    positions get zeros instead of a 30,522-way projection each.
    """

    def __init__(self, mlm: Any, mask_id: int) -> None:
        self.mlm = mlm
        self.mask_id = mask_id

    def __call__(self, ids: Tensor, attention_mask: Tensor) -> Tensor:
        hidden = self.mlm.bert(input_ids=ids, attention_mask=attention_mask)[0]
        masked = ids == self.mask_id
        head = self.mlm.cls(hidden[masked]).float()
        logits = head.new_zeros(*ids.shape, head.shape[-1])
        logits[masked] = head
        return logits


def layernorm_check(
    model: Any, forward: ClassifierForward, ids: Tensor, attention: Tensor, target
) -> Tuple[Tensor, Tensor]:
    """Per token, |g . s| and |g . w|: the gradient of the target logit with
    respect to the summed embeddings s (LayerNorm's input) times s, and times
    the token embeddings w (Input x Gradient)."""
    embeddings = model.bert.embeddings
    captured = {}

    def keep_input(module, inputs):
        inputs[0].retain_grad()
        captured["s"] = inputs[0]

    handle = embeddings.LayerNorm.register_forward_pre_hook(keep_input)
    try:
        output = forward(ids, attention)
    finally:
        handle.remove()
    output.gather(1, target.unsqueeze(1)).sum().backward()
    s = captured["s"]
    real = attention.bool()
    with torch.no_grad():
        w = embeddings.word_embeddings(ids)
        return (s.grad * s).sum(-1).abs()[real], (s.grad * w).sum(-1).abs()[real]


def load(models_dir: str):
    from transformers import (
        AutoModelForMaskedLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    classifier_dir = os.path.join(models_dir, "minilm-sst2")
    tokenizer = AutoTokenizer.from_pretrained(classifier_dir)
    model = AutoModelForSequenceClassification.from_pretrained(classifier_dir).eval()
    mlm = AutoModelForMaskedLM.from_pretrained(
        os.path.join(models_dir, "minilm-mlm")
    ).eval()
    return tokenizer, model, mlm


def attribution_methods(
    forward: ClassifierForward,
    fast: ClassifierForward,
    cached: CachedForward,
    layer: torch.nn.Module,
    tokenizer: Any,
    args: argparse.Namespace,
) -> Dict[str, Callable[..., Tensor]]:
    """name -> f(ids, attention, words, target, batch_index, loo) ->
    attributions.

    Leave-one-out by deletion (``loo``), the reference of Kendall's tau, is
    computed once a batch in ``main`` and enters the table as a method too.
    """

    def lig(ids, attention, words, target, *_):
        baselines = torch.where(words >= 0, tokenizer.pad_token_id, ids)
        return LayerIntegratedGradients(forward, layer).attribute(
            ids,
            baselines=baselines,
            target=target,
            additional_forward_args=(attention,),
            n_steps=args.ig_steps,
            internal_batch_size=args.internal_batch_size,
        )

    def input_x_gradient(ids, attention, words, target, *_):
        return LayerGradientXActivation(forward, layer).attribute(
            ids, target=target, additional_forward_args=(attention,)
        )

    def occlusion(ids, attention, words, target, *_):
        # Captum needs every token in a feature: specials and padding form one
        # more feature, whose score the metrics ignore.
        features = torch.where(words >= 0, words, words.max() + 1)
        return FeatureAblation(cached).attribute(
            ids,
            baselines=tokenizer.mask_token_id,
            target=target,
            additional_forward_args=(attention,),
            feature_mask=features,
            perturbations_per_eval=max(1, args.internal_batch_size // len(ids)),
        )

    def nlgp(ids, attention, words, target, *_):
        # forward passes only: run by the bfloat16 copy like the metrics
        return LayerNLGP(fast, get_embedding_layer(fast.model)).attribute(
            ids,
            target=target,
            additional_forward_args=(attention,),
            feature_mask=words,
            n_samples=args.nlgp_samples,
            internal_batch_size=args.internal_batch_size,
            seed=0,
        )

    def random(ids, attention, words, target, batch_index, _):
        generator = torch.Generator().manual_seed(1000 + batch_index)
        return torch.rand(ids.shape, generator=generator)

    methods = {
        "LayerIntegratedGradients": lig,
        "InputXGradient (embeddings)": input_x_gradient,
        "Occlusion ([MASK], word)": occlusion,
        "LOO (delete)": lambda *batch: batch[-1],
    }
    if args.nlgp_samples:
        methods["LayerNLGP"] = nlgp
    methods["Random"] = random
    return methods


def metric_suite(
    cached: CachedForward,
    fast: ClassifierForward,
    fast_layer: torch.nn.Module,
    mlm: Any,
    tokenizer: Any,
    args: argparse.Namespace,
) -> Callable[..., Dict[str, MetricResult]]:
    mask = Removal("mask", tokenizer=tokenizer)
    pad = Removal("pad", tokenizer=tokenizer)

    def run(
        ids, attention, words, labels, target, attributions, loo
    ) -> Dict[str, MetricResult]:
        common = dict(
            target=target,
            feature_mask=words,
            additional_forward_args=(attention,),
            internal_batch_size=args.internal_batch_size,
        )
        results = {
            "comprehensiveness@20%": comprehensiveness(
                cached, ids, attributions, **common
            ),
            "sufficiency@20%": sufficiency(cached, ids, attributions, **common),
            "comprehensiveness@20% [MASK]": comprehensiveness(
                cached, ids, attributions, removal=mask, **common
            ),
            "sufficiency@20% [MASK]": sufficiency(
                cached, ids, attributions, removal=mask, **common
            ),
            "AOPC comprehensiveness (ERASER k)": aopc_comprehensiveness(
                cached, ids, attributions, **common
            ),
            "AOPC sufficiency (ERASER k)": aopc_sufficiency(
                cached, ids, attributions, **common
            ),
            "AOPC comprehensiveness (ferret k)": aopc_comprehensiveness(
                cached, ids, attributions, percents=FERRET_PERCENTS, **common
            ),
            "AOPC sufficiency (ferret k)": aopc_sufficiency(
                cached, ids, attributions, percents=FERRET_PERCENTS, **common
            ),
            "log-odds@20% [PAD]": log_odds(
                cached, ids, attributions, removal=pad, **common
            ),
            "deletion AUC": deletion_curve(
                cached, ids, attributions, percents=FERRET_PERCENTS, **common
            ),
            "insertion AUC": insertion_curve(
                cached, ids, attributions, percents=FERRET_PERCENTS, **common
            ),
            "Kendall tau with LOO": kendall_tau_loo(
                cached, ids, attributions, loo=loo, **common
            ),
            "soft-NC": soft_comprehensiveness(
                fast, fast_layer, ids, attributions, seed=0, **common
            ),
            "soft-NS": soft_sufficiency(
                fast, fast_layer, ids, attributions, seed=0, **common
            ),
            "AUC_rep (MiniLM MLM)": auc_rep(
                cached, mlm, ids, attributions, tokenizer=tokenizer, **common
            ),
        }
        accuracy = delta_accuracy(cached, ids, attributions, labels=labels, **common)
        results.update({f"Delta accuracy {k}": r for k, r in accuracy.items()})
        return results

    return run


def batches(examples, tokenizer, size: int):
    """Length-sorted batches, each padded to its own longest sentence."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].words))
    for start in range(0, len(order), size):
        chosen = [examples[i] for i in order[start : start + size]]
        encoding = tokenizer(
            [list(e.words) for e in chosen],
            is_split_into_words=True,
            padding=True,
            truncation=True,
            max_length=128,
            return_tensors="pt",
        )
        labels = torch.tensor([e.label for e in chosen])
        yield encoding, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="SST-2 dev sentences")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--internal-batch-size", type=int, default=64)
    parser.add_argument("--ig-steps", type=int, default=12)
    parser.add_argument(
        "--nlgp-samples", type=int, default=0, help="0 leaves LayerNLGP out"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--metric-dtype",
        type=lambda name: getattr(torch, name),
        default=torch.bfloat16,
        help="dtype of the classifier copy behind the removal metrics, and of "
        "the MLM (bfloat16 or float32)",
    )
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()

    tokenizer, model, mlm = load(str(resolve_models_dir(args.models_dir)))
    examples = load_sst2("dev", data_dir=args.data_dir, limit=args.n)
    forward = ClassifierForward(model)
    fast = ClassifierForward(copy.deepcopy(model).to(args.metric_dtype))
    cached = CachedForward(forward, fast)
    layer = get_embedding_layer(model)
    methods = attribution_methods(forward, fast, cached, layer, tokenizer, args)
    masked_mlm = MaskedPositionsMLM(mlm.to(args.metric_dtype), tokenizer.mask_token_id)
    suite = metric_suite(
        cached, fast, get_embedding_layer(fast.model), masked_mlm, tokenizer, args
    )

    values: Dict[str, Dict[str, List[Tensor]]] = defaultdict(lambda: defaultdict(list))
    details: Dict[str, Dict[str, Any]] = {}
    seconds: Dict[str, List[float]] = defaultdict(lambda: [0.0, 0.0])
    correct = 0
    precision: Dict[str, List[Tensor]] = defaultdict(list)
    for index, (encoding, labels) in enumerate(
        batches(examples, tokenizer, args.batch_size)
    ):
        ids, attention = encoding["input_ids"], encoding["attention_mask"]
        words = word_feature_mask(encoding)
        with torch.no_grad():
            probabilities = torch.softmax(forward(ids, attention), dim=1)
            fast_probabilities = torch.softmax(fast(ids, attention).float(), dim=1)
        target = probabilities.argmax(dim=1)
        shift = (probabilities - fast_probabilities).abs().max(dim=1).values
        precision["shift"].append(shift)
        precision["agree"].append(fast_probabilities.argmax(dim=1) == target)
        g_s, g_w = layernorm_check(model, forward, ids, attention, target)
        precision["g.s"].append(g_s)
        precision["g.w"].append(g_w)
        correct += int((target == labels).sum())
        cached.cache.clear()
        tick = time.time()
        loo = leave_one_out(
            cached,
            ids,
            target=target,
            feature_mask=words,
            additional_forward_args=(attention,),
            internal_batch_size=args.internal_batch_size,
        )
        seconds["LOO (delete)"][0] += time.time() - tick
        for name, method in methods.items():
            tick = time.time()
            attributions = method(ids, attention, words, target, index, loo).detach()
            seconds[name][0] += time.time() - tick
            tick = time.time()
            suite_results = suite(
                ids, attention, words, labels, target, attributions, loo
            )
            for metric, result in suite_results.items():
                values[metric][name].append(result.per_example)
                details.setdefault(metric, result.details)
            seconds[name][1] += time.time() - tick
        print(
            f"batch {index}: {time.time() - start:.0f} s, cache hits "
            f"{cached.hits} / {cached.hits + cached.misses}",
            file=sys.stderr,
            flush=True,
        )

    summary = {
        metric: {
            name: summarize(metric, torch.cat(parts))
            for name, parts in by_method.items()
        }
        for metric, by_method in values.items()
    }
    shift = torch.cat(precision["shift"])
    agree = torch.cat(precision["agree"])
    precision_note = (
        f"on these {args.n} sentences the {str(args.metric_dtype)[6:]} copy moves the "
        f"predicted probabilities by {shift.mean():.4f} on average, at most "
        f"{shift.max():.4f}, and agrees on {int(agree.sum())} of {args.n} "
        "predictions"
    )
    g_s, g_w = torch.cat(precision["g.s"]), torch.cat(precision["g.w"])
    layernorm_note = (
        f"over the {g_s.numel()} tokens of these sentences, |g . s| is at most "
        f"{g_s.max():.1e} while |g . w| averages {g_w.mean():.1e}"
    )
    write_results(
        args,
        summary,
        details,
        seconds,
        correct,
        precision_note,
        layernorm_note,
        time.time() - start,
    )


SHORT_NAMES = {
    "LayerIntegratedGradients": "LIG",
    "InputXGradient (embeddings)": "IxG",
    "Occlusion ([MASK], word)": "Occlusion",
    "LOO (delete)": "LOO",
    "LayerNLGP": "NLGP",
}


def not_clearly_above_random(
    results: Dict[str, MetricResult], higher: bool
) -> Tuple[List[str], List[str]]:
    """Methods whose mean is no better than random's, and methods whose
    interval overlaps random's (both by short name)."""
    random = results["Random"]
    worse, overlapping = [], []
    for name, r in results.items():
        if name == "Random":
            continue
        better = r.mean > random.mean if higher else r.mean < random.mean
        clear = r.ci_low > random.ci_high if higher else r.ci_high < random.ci_low
        if not better:
            worse.append(SHORT_NAMES.get(name, name))
        elif not clear:
            overlapping.append(SHORT_NAMES.get(name, name))
    return worse, overlapping


NOTES = """
## Reading the table

- The two columns on the right list, for each metric, the methods whose mean
  is no better than random's and those whose interval overlaps random's.
- **Input x Gradient on BERT's token embeddings is no better than random, and
  this is a property of the method, not of the metrics.** BERT adds the token,
  position and segment embeddings and applies LayerNorm, which is invariant to
  the scale of each token's summed vector s; so the gradient g of any output
  with respect to s is orthogonal to s (Euler's theorem for a 0-homogeneous
  function): g . s = 0 exactly. Input x Gradient on the token embedding w is
  then g . w = -g . (position + segment embedding): the gradient's projection
  on the position and segment embeddings, not on the word's own vector.
  Measured in this run: {layernorm_note}. Integrated Gradients from a [PAD]
  baseline escapes this (its path moves w away from the baseline, not along
  s).
- Kendall tau of "LOO (delete)" with LOO is 1 by construction (the reference
  itself), shown as a check.
- Soft-NC / soft-NS are normalized by the drop when every word's embedding is
  zeroed and clipped to [0, 1], as in the authors' code; they are undefined
  (NaN, left out of the mean; n shown) for a sentence whose target
  probability does not fall when every word's embedding is zeroed. Without
  the clipping a few near-zero denominators dominate the means (a first run
  gave soft-NC means of 3 to 35 and made random look better than occlusion
  on soft-NS).
- Delta accuracy "gold" is the drop of accuracy against the labels;
  "prediction" is the rate of flipped predictions.
"""


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def write_results(
    args,
    summary,
    details,
    seconds,
    correct,
    precision_note,
    layernorm_note,
    total_seconds,
) -> None:
    methods = list(next(iter(summary.values())))
    n = args.n
    dtype = str(args.metric_dtype).replace("torch.", "")
    lines = [
        "# Faithfulness metrics on SST-2 with the real MiniLM",
        "",
        f"Command: `python benchmarks/metrics_study/run_study.py --n {n} "
        f"--batch-size {args.batch_size} --ig-steps {args.ig_steps} "
        f"--nlgp-samples {args.nlgp_samples} --threads {args.threads} "
        f"--metric-dtype {dtype}`",
        "",
        f"Date: {datetime.date.today().isoformat()}. Machine: {cpu_name()}, "
        f"{os.cpu_count()} CPU cores shared with other jobs, {args.threads} torch "
        "thread(s), Python "
        f"{platform.python_version()}, torch {torch.__version__}. Wall time "
        f"{total_seconds / 60:.1f} min.",
        "",
        f"Data: the first {n} SST-2 dev sentences (`load_sst2`); model "
        f"`minilm-sst2` (accuracy on them {correct / n:.3f}); MLM `minilm-mlm` for "
        "AUC_rep. Words are the PTB words of SST-2 (`word_feature_mask`); the "
        "target is the class the float32 model predicts. Each cell: mean [95% "
        "bootstrap interval] over the examples (n when some are undefined).",
        "",
        "Methods: Captum's LayerIntegratedGradients on the token embeddings "
        f"({args.ig_steps} steps, [PAD] baseline on the words); Captum's "
        "LayerGradientXActivation on the token embeddings (Input x Gradient); "
        "Captum's FeatureAblation with the word mask and a [MASK] baseline "
        "(word occlusion); our `leave_one_out` by deletion; uniform random "
        "scores per token (summed per word)"
        + (
            f"; the package's LayerNLGP ({args.nlgp_samples} samples, scale "
            "perturbation, seed 0)"
            if args.nlgp_samples
            else ""
        )
        + ". Gradient methods run the float32 "
        "model; every perturbed copy (metrics, occlusion, leave-one-out, NLGP) runs a "
        f"{dtype} copy of it, and so does the MLM ({precision_note}); each "
        "distinct copy is run once.",
        "",
        "Removal: deletion unless the row says [MASK] or [PAD]. AOPC over ERASER's "
        "k = {1, 5, 10, 20, 50}% or ferret's k = {10, ..., 100}%; deletion and "
        "insertion curves on the {0, 10, ..., 100}% grid. Soft-NC / soft-NS: one "
        "embedding-dropout mask per example (seed 0).",
        "",
        "| metric | better | "
        + " | ".join(methods)
        + " | no better than random | overlaps random |",
        "|---" * (len(methods) + 4) + "|",
    ]
    verdict_rows: List[Tuple[List[str], List[str]]] = []
    for metric, results in summary.items():
        higher = details[metric]["higher_is_better"]
        cells = []
        for name in methods:
            r = results[name]
            count = "" if r.n == n else f" (n={r.n})"
            cells.append(f"{r.mean:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]{count}")
        worse, overlapping = not_clearly_above_random(results, higher)
        verdict_rows.append((worse, overlapping))
        arrow = "higher" if higher else "lower"
        lines.append(
            f"| {metric} | {arrow} | "
            + " | ".join(cells)
            + f" | {', '.join(worse) or '-'} | {', '.join(overlapping) or '-'} |"
        )
    lines += ["", "Against random, over the metrics above:", ""]
    for name in methods:
        if name == "Random":
            continue
        short = SHORT_NAMES.get(name, name)
        worse = sum(short in verdicts[0] for verdicts in verdict_rows)
        overlap = sum(short in verdicts[1] for verdicts in verdict_rows)
        clear = len(verdict_rows) - worse - overlap
        lines.append(
            f"- {name}: clearly better on {clear} of {len(verdict_rows)}, better "
            f"with overlapping intervals on {overlap}, no better on {worse}."
        )
    lines += ["", "Seconds per method (attribution, then all its metrics):", ""]
    lines += [f"- {name}: {a:.0f}, {m:.0f}" for name, (a, m) in seconds.items()]
    lines.append(NOTES.format(layernorm_note=layernorm_note))
    with open(args.out, "w") as handle:
        handle.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
