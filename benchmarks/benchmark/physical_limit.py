"""The floor of a benchmark run on this CPU: its model work at the rate this
CPU runs the model.

``rates`` measures one thread's rates: the model's matrix products through
torch's BLAS, through numpy's and through oneDNN's packed kernel (what another
matrix-product library would give on this CPU), and the model itself, forward
and forward+backward to the embeddings, in milliseconds per token a row, over
the SST-2 dev sentences at their own lengths in the runner's packed passes.

``floor DIR`` takes a finished run folder and counts each method's model work:
its forward and backward rows and tokens (the records' cost), and the distinct
texts its explanations' metrics evaluate (recounted through the runner's memo
with a forward function that counts instead of running the model: the removed
words follow from the recorded word scores alone). At the rates just measured,
that work takes the floor printed per method on ``--cores`` cores; the run's
wall time over it (``--wall-minutes``) is what the run spent beyond its model
passes. Input marginalization's masked-LM passes are not in the records' cost,
so its floor leaves them out.

    OMP_NUM_THREADS=1 python -m benchmarks.benchmark.physical_limit rates
    OMP_NUM_THREADS=1 python -m benchmarks.benchmark.physical_limit floor \\
        runs/sst2-dev-full --cores 2 --wall-minutes 148 [--rates 0.413 1.064]
"""

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch
from benchmarks.benchmark.method_overhead import bare
from benchmarks.common import machine, today

from captum_nlp_ext._utils.memo import MemoizedForward
from captum_nlp_ext.benchmark._data import RunData
from captum_nlp_ext.benchmark.store import load_run
from captum_nlp_ext.datasets import resolve_models_dir
from captum_nlp_ext.engine.batch import Explainer
from captum_nlp_ext.engine.metrics import MetricBatch, METRICS
from captum_nlp_ext.engine.settings import DataSource
from captum_nlp_ext.huggingface import ClassifierForward, load_classifier


def per_second(function: Callable[[], Any], repeats: int) -> float:
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return repeats / (time.perf_counter() - start)


def gemm_rates(model: Any, tokens: int) -> List[Tuple[str, float]]:
    """GFLOP/s of the encoder's three matrix-product shapes for ``tokens``
    token positions, through each library."""
    config = model.config
    hidden, inner = config.hidden_size, config.intermediate_size
    shapes = [(hidden, hidden), (hidden, inner), (inner, hidden)]
    flops = sum(2 * tokens * k * n for k, n in shapes)
    inputs = [torch.randn(tokens, k) for k, _ in shapes]
    weights = [torch.randn(n, k) for k, n in shapes]
    arrays = [(x.numpy(), w.t().contiguous().numpy()) for x, w in zip(inputs, weights)]
    out = [
        ("torch (its BLAS)", lambda: [x @ w.t() for x, w in zip(inputs, weights)]),
        ("numpy (its BLAS)", lambda: [x @ w for x, w in arrays]),
    ]
    try:  # a private op of torch's CPU compiler: what oneDNN's kernel reaches
        packed = [torch.ops.mkldnn._reorder_linear_weight(w, tokens) for w in weights]
        zeros = [torch.zeros(w.shape[0]) for w in weights]

        def onednn() -> List[torch.Tensor]:
            return [
                torch.ops.mkldnn._linear_pointwise(x, p, b, "none", [], "")
                for x, p, b in zip(inputs, packed, zeros)
            ]

        out.append(("oneDNN packed (torch.ops.mkldnn)", onednn))
    except (AttributeError, RuntimeError):
        pass
    with torch.no_grad():
        return [(name, flops * per_second(f, 20) / 1e9) for name, f in out]


def model_rates(model: Any, tokenizer: Any, n: int) -> Tuple[float, float, float]:
    """Milliseconds per token a row, forward and forward+backward (gradient to
    the embeddings), over the first ``n`` SST-2 dev sentences at their own
    lengths in packed passes of 64 rows; and the forward's GFLOP/s in the
    encoder's matrix products."""
    data = RunData.load(DataSource("sst2", split="dev", n=n))
    explainer = Explainer(model, tokenizer, data.examples, 128, None, [], None)
    batch = explainer.batch(data.length_order())
    tokens = int(batch.attention_mask.sum())
    # The bare passes of method_overhead.py: forward rows packed by length, and
    # forward+backward rows 64 at a time, each pass cut to its longest row.
    rows = len(batch.rows)
    ms_forward = 1000 * min(bare(model, batch, rows, 0) for _ in range(2)) / tokens
    ms_both = 1000 * min(bare(model, batch, rows, rows) for _ in range(2)) / tokens
    config = model.config
    params = config.num_hidden_layers * (
        4 * config.hidden_size**2 + 2 * config.hidden_size * config.intermediate_size
    )
    gflops = 2 * params / (ms_forward / 1000) / 1e9
    return ms_forward, ms_both, gflops


class CountingForward:
    """A classifier's forward function that counts the rows and tokens it is
    given and returns zero logits (the metrics' removed words do not depend on
    them)."""

    attention_mask_arg = ClassifierForward.attention_mask_arg

    def __init__(self, classes: int) -> None:
        self.classes, self.rows, self.tokens = classes, 0, 0

    def __call__(self, inputs: torch.Tensor, mask: torch.Tensor, *rest: Any) -> Any:
        self.rows += inputs.shape[0]
        self.tokens += int(mask.sum())
        return torch.zeros(inputs.shape[0], self.classes)


def metric_work(
    run_dir: Path, model: Any, tokenizer: Any
) -> Tuple[Dict[str, Tuple[float, float]], Tuple[float, float]]:
    """Per method, the distinct metric texts (rows) and their tokens, summed
    over the run's records, as the runner's memo (one per batch and method)
    evaluates them; and the rows and tokens of all methods together with one
    memo per batch shared by its methods (what sharing would save)."""
    settings, records = load_run(run_dir)
    data = RunData.load(
        DataSource(settings["dataset"], split=settings["split"], n=settings["n"])
    )
    explainer = Explainer(
        model,
        tokenizer,
        data.examples,
        settings["max_length"],
        None,
        settings["metrics"],
        None,
    )
    by_key = {(r["example"], r["method"]): r for r in records if "failed" not in r}
    classes = int(model.config.num_labels)
    work: Dict[str, List[float]] = defaultdict(lambda: [0.0, 0.0])
    shared_counter = CountingForward(classes)
    for rows in data.batches(settings["batch_size"]):
        batch = explainer.batch(rows)
        shared = MemoizedForward(shared_counter)
        for method in settings["methods"]:
            if not all((i, method) in by_key for i in rows):
                continue
            attributions = torch.zeros(batch.input_ids.shape)
            for position, i in enumerate(rows):
                recorded = by_key[(i, method)]["scores"]
                scores = torch.tensor([s if s is not None else 0.0 for s in recorded])
                units = batch.feature_mask[position]
                kept = units >= 0
                # Every piece of a word carries its score: "auto" pooling takes it.
                ranks = torch.unique(units[kept], return_inverse=True)[1]
                attributions[position, kept] = scores[ranks]
            counter = CountingForward(classes)
            for forward in (MemoizedForward(counter), shared):
                metric_batch = MetricBatch(
                    forward,
                    tokenizer,
                    batch.input_ids,
                    (batch.attention_mask,),
                    batch.feature_mask,
                    batch.target,
                    attributions,
                )
                with torch.no_grad():
                    for metric in settings["metrics"]:
                        if METRICS[metric].group == "faithfulness":
                            METRICS[metric].compute(metric_batch)
            work[method][0] += counter.rows
            work[method][1] += counter.tokens
    per_method = {name: (rows, tokens) for name, (rows, tokens) in work.items()}
    return per_method, (shared_counter.rows, shared_counter.tokens)


def floor(args: argparse.Namespace, model: Any, tokenizer: Any) -> None:
    settings, records = load_run(args.run_dir)
    if settings.get("window") or settings["model"] != "minilm-sst2":
        sys.exit("floor prices runs of minilm-sst2 without windows (its rates)")
    if args.rates is None:
        ms_forward, ms_both, _ = model_rates(model, tokenizer, args.n)
    else:
        ms_forward, ms_both = args.rates
    attribution: Dict[str, List[float]] = defaultdict(lambda: [0.0] * 5)
    for record in records:
        cost = record.get("cost")
        if not cost:
            continue
        totals = attribution[record["method"]]
        real = cost["tokens"] - cost["padding_tokens"]
        per_row = real / cost["forward_rows"] if cost["forward_rows"] else 0.0
        totals[0] += cost["forward_rows"]
        totals[1] += cost["backward_rows"]
        totals[2] += real
        totals[3] += cost["backward_rows"] * per_row
        totals[4] += cost["seconds"]
    metrics, (shared_rows, _) = metric_work(args.run_dir, model, tokenizer)
    examples = settings["n"]
    print(f"date: {today()}; machine: {machine()}")
    print(
        f"run: {args.run_dir} ({examples} examples); model: {ms_forward:.3f} ms a "
        f"token-row forward, {ms_both:.3f} forward+backward; {args.cores} cores"
    )
    print(
        "| method | fwd rows / ex | bwd rows / ex | metric rows / ex | floor, "
        "attribution (min) | floor, metrics (min) | attribution s recorded (min) |"
    )
    print("|---|---|---|---|---|---|---|")
    total_floor = total_recorded = 0.0
    for name in settings["methods"]:
        fwd, bwd, fwd_tokens, bwd_tokens, seconds = attribution[name]
        metric_rows, metric_tokens = metrics.get(name, (0.0, 0.0))
        attr_min = (
            (fwd_tokens * ms_forward + bwd_tokens * (ms_both - ms_forward))
            / 60000
            / args.cores
        )
        metric_min = metric_tokens * ms_forward / 60000 / args.cores
        total_floor += attr_min + metric_min
        total_recorded += seconds / 60 / args.cores
        print(
            f"| {name} | {fwd / examples:.1f} | {bwd / examples:.1f} | "
            f"{metric_rows / examples:.1f} | {attr_min:.1f} | {metric_min:.1f} | "
            f"{seconds / 60 / args.cores:.1f} |"
        )
    own_rows = sum(rows for rows, _ in metrics.values())
    print(
        f"metric rows, one memo per batch and method: {own_rows / examples:.1f} an "
        f"example; one memo per batch shared by its methods: "
        f"{shared_rows / examples:.1f} ({1 - shared_rows / own_rows:.1%} fewer)"
    )
    print(f"floor of the whole run: {total_floor:.1f} min on {args.cores} cores")
    print(f"attribution time recorded: {total_recorded:.1f} min on {args.cores} cores")
    if args.wall_minutes:
        print(f"wall time / floor: {args.wall_minutes / total_floor:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=("rates", "floor"))
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--n", type=int, default=872, help="sentences for the rates")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--wall-minutes", type=float, default=None)
    parser.add_argument(
        "--rates",
        type=float,
        nargs=2,
        metavar=("MS_FORWARD", "MS_BOTH"),
        help="floor: the model's rates measured before (ms a token-row forward "
        "and forward+backward), for a machine that is busy now",
    )
    args = parser.parse_args()
    model, tokenizer = load_classifier(resolve_models_dir() / "minilm-sst2")
    if args.part == "floor":
        if args.run_dir is None:
            parser.error("floor needs the run folder")
        floor(args, model, tokenizer)
        return
    print(f"date: {today()}; machine: {machine()}; numpy {np.__version__}")
    ms_forward, ms_both, gflops = model_rates(model, tokenizer, args.n)
    print(
        f"model, SST-2 dev at its lengths: {ms_forward:.3f} ms a token-row forward "
        f"({gflops:.1f} GFLOP/s in its matrix products), {ms_both:.3f} ms "
        f"forward+backward ({ms_both / ms_forward:.2f}x)"
    )
    for name, rate in gemm_rates(model, 64 * 24):
        print(f"matrix products of 64 rows x 24 tokens, {name}: {rate:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
