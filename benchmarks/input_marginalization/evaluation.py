"""Input marginalization under the evaluation suite on SST-2 dev.

Scores LayerInputMarginalization (word units, ``top_k`` candidates) beside
leave-one-out with [UNK], with [PAD] and with deletion, and random scores, on
the first N SST-2 dev sentences with the real MiniLM classifier and MLM:
AUC_rep (with the same MLM), comprehensiveness and sufficiency at 20% and
their AOPC over ERASER's k, the deletion AUC, log-odds at 20% ([PAD]), Kendall's
tau with leave-one-out by deletion, and the cascading model-randomization
check (signed and absolute) on the first ``--rand-n`` sentences.

Kim et al. (EMNLP 2020) evaluate IM by AUC_rep; Pham et al. (AACL 2022) argue
that AUC_rep favours IM because both use the MLM, and that under deletion
metrics IM is no better than leave-one-out by deletion. This runs both.

    python benchmarks/input_marginalization/evaluation.py --n 40

Reuses the metrics study's machinery (``benchmarks/metrics_study/run_study.py``:
memoized bfloat16 classifier copy, MLM head on masked positions only,
length-sorted batches). Appends its table to ``RESULTS.md`` beside this file.
"""

import argparse
import copy
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, List

import torch
from torch import Tensor

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "metrics_study"))

from common import machine, today  # noqa: E402
from run_study import batches, CachedForward, load, MaskedPositionsMLM  # noqa: E402

from captum_nlp_ext.attr import LayerInputMarginalization  # noqa: E402
from captum_nlp_ext.datasets import load_sst2, resolve_models_dir  # noqa: E402
from captum_nlp_ext.huggingface import (  # noqa: E402
    ClassifierForward,
    get_embedding_layer,
    word_feature_mask,
)
from captum_nlp_ext.metrics import (  # noqa: E402
    aopc_comprehensiveness,
    aopc_sufficiency,
    auc_rep,
    comprehensiveness,
    deletion_curve,
    FERRET_PERCENTS,
    kendall_tau_loo,
    leave_one_out,
    log_odds,
    MetricResult,
    model_randomization,
    Removal,
    sufficiency,
    summarize,
)

LOO_REMOVALS = {"LOO [UNK]": "unk", "LOO [PAD]": "pad", "LOO (delete)": "delete"}


class Replay:
    """``explain`` for :func:`model_randomization`, run once for two calls.

    The signed and the absolute check randomize the same copies (same seed,
    same stages, in the same order), so the second call replays the first
    call's attributions instead of recomputing them.
    """

    def __init__(self, explain: Callable[[torch.nn.Module], Tensor]) -> None:
        self.explain = explain
        self.outputs: List[Tensor] = []
        self.calls = 0

    def rewind(self) -> None:
        self.calls = 0

    def __call__(self, model: torch.nn.Module) -> Tensor:
        if self.calls == len(self.outputs):
            self.outputs.append(self.explain(model).detach())
        self.calls += 1
        return self.outputs[self.calls - 1]


def explainers(
    mlm: Any, tokenizer: Any, args: argparse.Namespace
) -> Dict[str, Callable[..., Tensor]]:
    """name -> f(model, ids, attention, words, target) -> attributions, the
    model being run as a ``args.dtype`` copy (perturbed copies only)."""

    def im(model, ids, attention, words, target):
        return LayerInputMarginalization(
            ClassifierForward(model),
            get_embedding_layer(model),
            mlm,
            tokenizer=tokenizer,
        ).attribute(
            ids,
            target=target,
            additional_forward_args=(attention,),
            feature_mask=words,
            top_k=args.top_k,
            internal_batch_size=args.internal_batch_size,
        )

    def loo(removal):
        def run(model, ids, attention, words, target):
            return leave_one_out(
                model if isinstance(model, CachedForward) else ClassifierForward(model),
                ids,
                target=target,
                feature_mask=words,
                additional_forward_args=(attention,),
                removal=Removal(removal, tokenizer=tokenizer),
                internal_batch_size=args.internal_batch_size,
            )

        return run

    methods = {f"IM top-{args.top_k}": im}
    methods.update({name: loo(mode) for name, mode in LOO_REMOVALS.items()})
    return methods


def metric_suite(
    cached: CachedForward, mlm: Any, tokenizer: Any, args: argparse.Namespace
) -> Callable[..., Dict[str, MetricResult]]:
    pad = Removal("pad", tokenizer=tokenizer)

    def run(ids, attention, words, target, attributions, loo):
        common = dict(
            target=target,
            feature_mask=words,
            additional_forward_args=(attention,),
            internal_batch_size=args.internal_batch_size,
        )
        return {
            "AUC_rep (MiniLM MLM)": auc_rep(
                cached, mlm, ids, attributions, tokenizer=tokenizer, **common
            ),
            "comprehensiveness@20%": comprehensiveness(
                cached, ids, attributions, **common
            ),
            "sufficiency@20%": sufficiency(cached, ids, attributions, **common),
            "AOPC comprehensiveness (ERASER k)": aopc_comprehensiveness(
                cached, ids, attributions, **common
            ),
            "AOPC sufficiency (ERASER k)": aopc_sufficiency(
                cached, ids, attributions, **common
            ),
            "deletion AUC": deletion_curve(
                cached, ids, attributions, percents=FERRET_PERCENTS, **common
            ),
            "log-odds@20% [PAD]": log_odds(
                cached, ids, attributions, removal=pad, **common
            ),
            "Kendall tau with LOO (delete)": kendall_tau_loo(
                cached, ids, attributions, loo=loo, **common
            ),
        }

    return run


def randomization(
    model: torch.nn.Module,
    methods: Dict[str, Callable[..., Tensor]],
    examples: List[Any],
    tokenizer: Any,
    args: argparse.Namespace,
    seconds: Dict[str, float],
) -> Dict[str, Dict[bool, Dict[str, MetricResult]]]:
    """method -> absolute -> stage -> Spearman with the trained model's
    attributions, target = gold label (fixed across the randomized copies)."""
    encoding = tokenizer(
        [list(e.words) for e in examples],
        is_split_into_words=True,
        padding=True,
        return_tensors="pt",
    )
    ids, attention = encoding["input_ids"], encoding["attention_mask"]
    words = word_feature_mask(encoding)
    labels = torch.tensor([e.label for e in examples])
    results: Dict[str, Dict[bool, Dict[str, MetricResult]]] = {}
    for name, method in methods.items():

        def explain(randomized, method=method):
            low = copy.deepcopy(randomized).to(args.dtype)
            return method(low, ids, attention, words, labels)

        replay = Replay(explain)
        tick = time.time()
        results[name] = {}
        for absolute in (False, True):
            replay.rewind()
            results[name][absolute] = model_randomization(
                model, replay, feature_mask=words, absolute=absolute
            )
        seconds[name] += time.time() - tick
    return results


def cell(r: MetricResult, n: int, digits: int = 3) -> str:
    count = "" if r.n == n else f" (n={r.n})"
    return f"{r.mean:.{digits}f} [{r.ci_low:.{digits}f}, {r.ci_high:.{digits}f}]{count}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40, help="SST-2 dev sentences")
    parser.add_argument(
        "--rand-n", type=int, default=8, help="sentences of the randomization check"
    )
    parser.add_argument("--top-k", type=int, default=50, help="IM candidates a word")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--internal-batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--dtype",
        type=lambda name: getattr(torch, name),
        default=torch.bfloat16,
        help="dtype of the classifier copy behind every perturbed input, and of "
        "the MLM of AUC_rep (IM's MLM stays float32)",
    )
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()

    tokenizer, model, mlm = load(str(resolve_models_dir(args.models_dir)))
    examples = load_sst2("dev", data_dir=args.data_dir, limit=args.n)
    low = copy.deepcopy(model).to(args.dtype)
    cached = CachedForward(ClassifierForward(model), ClassifierForward(low))
    auc_mlm = MaskedPositionsMLM(
        copy.deepcopy(mlm).to(args.dtype), tokenizer.mask_token_id
    )
    suite = metric_suite(cached, auc_mlm, tokenizer, args)
    methods = explainers(mlm, tokenizer, args)

    values: Dict[str, Dict[str, List[Tensor]]] = defaultdict(lambda: defaultdict(list))
    details: Dict[str, Dict[str, Any]] = {}
    seconds: Dict[str, List[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    correct = 0
    for index, (encoding, labels) in enumerate(
        batches(examples, tokenizer, args.batch_size)
    ):
        ids, attention = encoding["input_ids"], encoding["attention_mask"]
        words = word_feature_mask(encoding)
        with torch.no_grad():
            target = model(input_ids=ids, attention_mask=attention).logits.argmax(1)
        correct += int((target == labels).sum())
        cached.cache.clear()
        attributions = {}
        for name, method in methods.items():
            tick = time.time()
            # IM's own rows are all distinct: it runs the copy directly.
            runner = low if name.startswith("IM") else cached
            attributions[name] = method(runner, ids, attention, words, target).detach()
            seconds[name][0] += time.time() - tick
        generator = torch.Generator().manual_seed(1000 + index)
        attributions["Random"] = torch.rand(ids.shape, generator=generator)
        for name, scores in attributions.items():
            tick = time.time()
            results = suite(
                ids, attention, words, target, scores, attributions["LOO (delete)"]
            )
            for metric, result in results.items():
                values[metric][name].append(result.per_example)
                details.setdefault(metric, result.details)
            seconds[name][1] += time.time() - tick
        print(
            f"batch {index}: {time.time() - start:.0f} s", file=sys.stderr, flush=True
        )

    summary = {
        metric: {name: summarize(metric, torch.cat(p)) for name, p in by.items()}
        for metric, by in values.items()
    }
    random_seconds: Dict[str, float] = defaultdict(float)
    randomized = randomization(
        model, methods, examples[: args.rand_n], tokenizer, args, random_seconds
    )
    for name, spent in random_seconds.items():
        seconds[name][2] = spent
    write_results(
        args, summary, details, randomized, seconds, correct, time.time() - start
    )


def write_results(
    args, summary, details, randomized, seconds, correct, total_seconds
) -> None:
    n = args.n
    names = list(next(iter(summary.values())))
    dtype = str(args.dtype).replace("torch.", "")
    lines = [
        "",
        f"## Evaluation suite on SST-2 dev, {today()}",
        "",
        f"Command: `python benchmarks/input_marginalization/evaluation.py --n {n} "
        f"--rand-n {args.rand_n} --top-k {args.top_k} --batch-size "
        f"{args.batch_size} --threads {args.threads} --dtype {dtype}`",
        "",
        f"Machine: {machine()}; shared with other jobs. Wall time "
        f"{total_seconds / 60:.1f} min.",
        "",
        f"Data: the first {n} SST-2 dev sentences (accuracy of `minilm-sst2` on "
        f"them {correct / n:.3f}), PTB words as units (`word_feature_mask`), "
        "target = the predicted class. IM: `LayerInputMarginalization` with "
        f"`minilm-mlm` (float32), `top_k={args.top_k}` candidates a word (with the "
        "default 1e-5 threshold, original token kept). Leave-one-out: the "
        "package's `leave_one_out` (p(x) - p(x without the word)) with the "
        "word replaced by [UNK], by [PAD], or deleted. Random: uniform scores a "
        f"token. Every perturbed input (IM, leave-one-out, metrics) runs a {dtype} "
        "copy of the classifier, and AUC_rep's MLM is a "
        f"{dtype} copy of `minilm-mlm` (as in `benchmarks/metrics_study`). Removal "
        "is deletion unless the row says [PAD]; AOPC over ERASER's k = {1, 5, 10, "
        "20, 50}%; deletion AUC on the {0, 10, ..., 100}% grid. Each cell: mean "
        "[95% bootstrap interval] over the sentences.",
        "",
        "| metric | better | " + " | ".join(names) + " |",
        "|---" * (len(names) + 2) + "|",
    ]
    for metric, results in summary.items():
        arrow = "higher" if details[metric]["higher_is_better"] else "lower"
        lines.append(
            f"| {metric} | {arrow} | "
            + " | ".join(cell(results[name], n) for name in names)
            + " |"
        )
    stages = list(next(iter(randomized.values()))[False])
    last = stages[-1]
    for absolute in (False, True):
        kind = "absolute" if absolute else "signed"
        cells = [
            (
                cell(randomized[name][absolute][last], args.rand_n, 2)
                if name in randomized
                else "-"
            )
            for name in names
        ]
        lines.append(
            f"| randomization Spearman, all stages ({kind}, first {args.rand_n}) "
            "| lower | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        f"Model randomization (cascading, `model_randomization`, first "
        f"{args.rand_n} sentences, target = gold label): Spearman a sentence "
        "between the trained model's word attributions and those after "
        "re-initializing the stages down to the row's; signed / absolute.",
        "",
        "| stage randomized (cumulative) | " + " | ".join(randomized) + " |",
        "|---" * (len(randomized) + 1) + "|",
    ]
    for stage in stages:
        cells = [
            f"{r[False][stage].mean:.2f} / {r[True][stage].mean:.2f}"
            for r in randomized.values()
        ]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines += ["", "Seconds a method (attribution, its metrics, randomization):", ""]
    lines += [
        f"- {name}: {a:.0f}, {m:.0f}, {r:.0f}" for name, (a, m, r) in seconds.items()
    ]
    text = "\n".join(lines) + "\n"
    with open(args.out, "a") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
