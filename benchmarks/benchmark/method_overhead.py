"""Each registered method's time over the bare model passes it makes.

For the first ``--n`` SST-2 dev sentences in the runner's batches (16, sorted by
length), each method runs through the benchmark registry as the runner runs it,
inside a cost meter (forward rows, backward rows, tokens and padding); then the
same numbers of rows go through the model bare: forward rows without gradients
and forward+backward rows (gradient to the embeddings), in packed passes of 64
rows of the batch's own sentences. Method and bare runs alternate ``--repeats``
times; the median ratio is the method's overhead (goal <= 1.15). LAFA is warmed
first, so its neighbours' base scores come from the index (its cost is then its
own base); MaRC's rows are its optimization steps.

    OMP_NUM_THREADS=1 python -m benchmarks.benchmark.method_overhead \\
        --n 32 --methods nlgp,lafa,marc,lime,occlusion

``--unpacked`` measures the padding as it was before packing (the methods that
pack through the batching home; LAFA's and MaRC's own trimming stays).
"""

import argparse
import statistics
import time
from typing import Any, Dict

import torch
from benchmarks.common import machine, today

from captum_nlp_ext._utils.batching import evaluate_rows
from captum_nlp_ext._utils.hooks import forward_with_layer_replaced
from captum_nlp_ext.benchmark._data import RunData
from captum_nlp_ext.datasets import resolve_models_dir
from captum_nlp_ext.engine.batch import Explainer
from captum_nlp_ext.engine.methods import build_resources, METHODS
from captum_nlp_ext.engine.settings import DataSource
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    load_classifier,
)
from captum_nlp_ext.metrics import CostMeter


def bare(model: Any, batch: Any, forward_rows: int, backward_rows: int) -> float:
    """Seconds for ``forward_rows`` (of which ``backward_rows`` with a
    backward pass) rows of the batch's sentences through the model."""
    forward = ClassifierForward(model)
    layer = get_embedding_layer(model)
    ids, mask = batch.input_ids, batch.attention_mask
    size = ids.shape[0]
    start = time.perf_counter()
    plain = forward_rows - backward_rows
    if plain > 0:
        rows = torch.arange(plain) % size
        with torch.no_grad():
            evaluate_rows(forward, ids, (mask,), rows, None, internal_batch_size=64)
    for begin in range(0, backward_rows, 64):
        rows = torch.arange(begin, min(begin + 64, backward_rows)) % size
        rows = rows[mask[rows].sum(1).argsort()]
        width = int(mask[rows].sum(1).max())
        chunk_ids, chunk_mask = ids[rows, :width], mask[rows, :width]
        with torch.no_grad():
            embeddings = layer(chunk_ids)
        embeddings.requires_grad_()
        out = forward_with_layer_replaced(
            forward, layer, chunk_ids, (chunk_mask,), embeddings
        )
        (grad,) = torch.autograd.grad(out[:, 0].sum(), embeddings)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--methods", default="nlgp,lafa,marc,lime,occlusion")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=int, default=128)
    parser.add_argument(
        "--unpacked",
        action="store_true",
        help="as before packing: the forward function does not name its "
        "attention mask, so passes keep the batch's padding",
    )
    args = parser.parse_args()
    if args.unpacked:
        ClassifierForward.attention_mask_arg = None  # type: ignore[assignment]
    methods = args.methods.split(",")
    models = resolve_models_dir()
    model, tokenizer = load_classifier(models / "minilm-sst2")
    data = RunData.load(DataSource("sst2", split="dev", n=args.n))
    explainer = Explainer(model, tokenizer, data.examples, 128, None, [], None)
    texts = data.reference_texts(1000) if "lafa" in methods else None
    resources = build_resources(
        methods,
        model,
        tokenizer,
        mlm=models / "minilm-mlm" if "im" in methods else None,
        reference_texts=texts,
    )
    batches = [explainer.batch(rows) for rows in data.batches(16)]

    def run(name: str) -> Dict[str, Any]:
        totals: Dict[str, Any] = {
            "seconds": 0.0,
            "forward": 0,
            "backward": 0,
            "tokens": 0,
            "pad": 0,
            "per_batch": [],
        }
        for batch in batches:
            context = batch.context(
                seed=0,
                budget=args.budget,
                resources=resources,
                internal_batch_size=64,
                options={},
            )
            with CostMeter(model) as meter:
                METHODS[name].attribute(context)
            cost = meter.cost
            totals["seconds"] += cost.seconds
            totals["forward"] += cost.forward_rows
            totals["backward"] += cost.backward_rows
            totals["tokens"] += cost.tokens
            totals["pad"] += cost.padding_tokens
            totals["per_batch"].append((cost.forward_rows, cost.backward_rows))
        return totals

    print(f"date: {today()}")
    print(f"machine: {machine()}")
    print(f"{args.n} SST-2 dev sentences in batches of 16, budget {args.budget}")
    print(
        "| method | forward rows / ex | backward rows / ex | padding | "
        "method s | bare s | ratio (median) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in methods:
        run(name)  # warm-up (LAFA: its neighbours' scores are kept)
        ratios, seconds, bare_seconds = [], [], []
        for _ in range(args.repeats):
            totals = run(name)
            reference = sum(
                bare(model, batch, f, b)
                for batch, (f, b) in zip(batches, totals["per_batch"])
            )
            seconds.append(totals["seconds"])
            bare_seconds.append(reference)
            ratios.append(totals["seconds"] / reference)
        share = totals["pad"] / totals["tokens"] if totals["tokens"] else 0.0
        print(
            f"| {name} | {totals['forward'] / args.n:.1f} | "
            f"{totals['backward'] / args.n:.1f} | {100 * share:.1f}% | "
            f"{statistics.median(seconds):.2f} | {statistics.median(bare_seconds):.2f} "
            f"| {statistics.median(ratios):.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
