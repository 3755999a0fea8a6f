"""The two tables of issue 32 on a causal LM: every method that applies, ours
and Captum's, scored by the benchmark's default metrics, with its cost.

- ``--task sst2``, prompted classification: four fixed SST-2 training
  demonstrations, then the dev sentence with one template slot a word, ending
  at "Sentiment:". The target is the model's own answer (" positive" or
  " negative", whichever it gives the higher probability) contrasted with the
  other: log p(answer) - log p(other).
- ``--task generation``: the first 30 words of an IMDB sample review (one slot
  a word) and the model's own greedy continuation of 10 tokens, whose
  log-probability is explained.

The metrics are those :mod:`captum_nlp_ext.engine.metrics` registers for a
data set without gold (comprehensiveness, sufficiency, log-odds, delta
accuracy, deletion and insertion AUC), computed by the same functions on
``CausalLMAttribution.removal_inputs``: the target's share of the two
continuations (generation: its probability against everything else), words
removed to the padding token.

The run is resumable and spans sessions: one JSON line per (text, method) in
``--rows`` (default ``benchmarks/llm/results/<task>.jsonl``, committed), each
with the settings it ran with; a second run skips what is there and
``--summary`` tables the rows whose settings match the current ones, over
the texts every tabled method has explained.

Usage (Gemma 3 270M needs ``pip install 'captum-nlp-ext[gemma]'``)::

    python -m benchmarks.llm.tables --task sst2 --n 200 [--methods nlgp,lig]
    python -m benchmarks.llm.tables --task sst2 --summary
"""

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable, cast, Dict, Iterator, List, Optional, Tuple

import torch
from benchmarks.common import machine, today
from benchmarks.llm.im_readings import ordered_answers
from benchmarks.llm.speed import _generated, demonstrations
from benchmarks.nlgp.against_lime import cell
from captum.attr import (
    FeatureAblation,
    KernelShap,
    LayerIntegratedGradients,
    Lime,
    ShapleyValueSampling,
    TextTemplateInput,
)

from captum_nlp_ext.attr import (
    CausalLMAttribution,
    CausalLMCandidates,
    EmbeddingNoiseTunnel,
    LayerInputMarginalization,
    LayerMaskOptimization,
    LayerNLGP,
)
from captum_nlp_ext.causal_lm import few_shot_prompt, GEMMA_270M, load_causal_lm
from captum_nlp_ext.datasets import load_imdb_sample, load_sst2
from captum_nlp_ext.engine.methods import WeightedLeastSquares
from captum_nlp_ext.engine.metrics import MetricBatch, METRICS


def _kernel_shap(model: Any) -> KernelShap:
    method = KernelShap(model)
    method.interpretable_model = WeightedLeastSquares()
    return method


RESULTS = Path(__file__).parent / "results"
TASKS = ("sst2", "generation")
#: The generation task: words of a review's opening, tokens generated.
OPENING_WORDS, NEW_TOKENS = 30, 10
#: name -> (build(model, layer, tokenizer) -> method, attribute options).
Factory = Callable[[Any, Any, Any], Any]
METHODS: Dict[str, Tuple[Factory, Dict[str, Any]]] = {
    "nlgp": (lambda m, layer, t: LayerNLGP(m, layer), {"seed": 0}),
    "marc": (lambda m, layer, t: LayerMaskOptimization(m, layer), {"seed": 0}),
    "input_marginalization": (
        lambda m, layer, t: LayerInputMarginalization(
            m, layer, CausalLMCandidates(m), tokenizer=t, mlm_batch_size=16
        ),
        {"top_k": 8, "internal_batch_size": 16},
    ),
    "lig": (lambda m, layer, t: LayerIntegratedGradients(m, layer), {}),
    "lig_predicted": (
        lambda m, layer, t: LayerIntegratedGradients(m, layer),
        {"baselines": "predicted"},
    ),
    "noise_tunnel_lig": (
        lambda m, layer, t: EmbeddingNoiseTunnel(LayerIntegratedGradients(m, layer)),
        {"seed": 0, "stdevs": 0.1},
    ),
    "feature_ablation": (lambda m, layer, t: FeatureAblation(m), {}),
    "shapley_sampling": (
        lambda m, layer, t: ShapleyValueSampling(m),
        {"n_samples": 8},
    ),
    # Captum's default surrogates are scikit-learn models (not a dependency
    # here): the benchmark's closed-form one, as for classifiers.
    "lime": (
        lambda m, layer, t: Lime(m, interpretable_model=WeightedLeastSquares()),
        {"n_samples": 50},
    ),
    "kernel_shap": (lambda m, layer, t: _kernel_shap(m), {"n_samples": 50}),
}
RANDOM = "random"
#: The registered metrics a data set without gold gets.
DEFAULT_METRICS = [name for name, spec in METRICS.items() if spec.needs is None]


def settings_of(name: str) -> str:
    """What a row ran with, compared before rows are tabled together."""
    return json.dumps(METHODS[name][1], sort_keys=True) if name in METHODS else "{}"


def done_rows(path: Path) -> List[Dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def scores(tokenizer, explainer, inp, target, contrast, seq_attr) -> Dict[str, Any]:
    removal = explainer.removal_inputs(inp, seq_attr, target, contrast=contrast)
    batch = MetricBatch(
        forward=removal.forward_func,
        tokenizer=tokenizer,
        input_ids=removal.inputs,
        additional_forward_args=(),
        feature_mask=removal.feature_mask,
        target=torch.tensor([1]),
        attributions=removal.attributions,
        internal_batch_size=16,
    )
    return {name: METRICS[name].compute(batch).values[0] for name in DEFAULT_METRICS}


def texts(task: str, n: int) -> Iterator[Tuple[List[str], Any]]:
    """(words, label or None) of the task's first ``n`` texts."""
    if task == "sst2":
        for example in load_sst2("dev", limit=n):
            yield list(example.words), example.label
    else:
        for example in load_imdb_sample("valid", limit=n):
            yield list(example.words[:OPENING_WORDS]), None


def targets(model, tokenizer, task: str, inp) -> Tuple[Any, Optional[str]]:
    """What is explained: (target, contrast)."""
    if task == "sst2":
        answer, other = ordered_answers(model, tokenizer, inp)
        return answer, other
    return _generated(model, tokenizer, inp, NEW_TOKENS), None


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    names = args.methods.split(",") if args.methods else [*METHODS, RANDOM]
    unknown = [n for n in names if n not in METHODS and n != RANDOM]
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown}; known {[*METHODS, RANDOM]}")
    rows = done_rows(args.rows)
    done = {
        (r["index"], r["method"])
        for r in rows
        if r["settings"] == settings_of(r["method"])
    }
    model, tokenizer = load_causal_lm(args.model)
    layer = cast(Any, model).get_input_embeddings()
    explainers = {
        name: CausalLMAttribution(METHODS[name][0](model, layer, tokenizer), tokenizer)
        for name in names
        if name in METHODS
    }
    reader = CausalLMAttribution(LayerNLGP(model, layer), tokenizer)
    shots = demonstrations()
    args.rows.parent.mkdir(parents=True, exist_ok=True)
    for index, (words, label) in enumerate(texts(args.task, args.n)):
        todo = [n for n in names if (index, n) not in done]
        if not todo:
            continue
        if args.task == "sst2":
            inp = few_shot_prompt(words, shots)
        else:
            inp = TextTemplateInput(" ".join(["{}"] * len(words)), words)
        target, contrast = targets(model, tokenizer, args.task, inp)
        for name in todo:
            start = time.perf_counter()
            if name == RANDOM:
                generator = torch.Generator().manual_seed(index)
                seq_attr = torch.rand(len(words), generator=generator)
            else:
                seq_attr = (
                    explainers[name]
                    .attribute(
                        inp, target=target, contrast=contrast, **METHODS[name][1]
                    )
                    .seq_attr
                )
            seconds = time.perf_counter() - start
            shown = target if isinstance(target, str) else tokenizer.decode(target)
            row = {
                "index": index,
                "method": name,
                "settings": settings_of(name),
                "label": label,
                "target": shown,
                "words": len(words),
                "seconds": round(seconds, 2),
                "model": Path(str(args.model)).name,
                "date": today(),
                "machine": machine(),
                **scores(tokenizer, reader, inp, target, contrast, seq_attr),
            }
            with args.rows.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


def summary(args: argparse.Namespace) -> None:
    rows = [
        r for r in done_rows(args.rows) if r["settings"] == settings_of(r["method"])
    ]
    methods = [m for m in [*METHODS, RANDOM] if any(r["method"] == m for r in rows)]
    # Only sentences every tabled method has explained, so that rows compare.
    shared = set.intersection(
        *({r["index"] for r in rows if r["method"] == m} for m in methods)
    )
    lines = [
        f"{args.task} on {rows[0]['model']}: {len(shared)} texts explained by "
        f"every method ({rows[0]['date']}, {rows[0]['machine']}); mean [95% "
        "bootstrap interval]; seconds per text.",
        "",
        "| method | " + " | ".join(DEFAULT_METRICS) + " | seconds |",
        "|---|" + "---|" * (len(DEFAULT_METRICS) + 1),
    ]
    for method in methods:
        mine = [r for r in rows if r["method"] == method and r["index"] in shared]
        cells = [
            cell([r[m] for r in mine if r[m] is not None]) for m in DEFAULT_METRICS
        ]
        cells.append(cell([r["seconds"] for r in mine]))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=GEMMA_270M)
    parser.add_argument("--task", choices=TASKS, default="sst2")
    parser.add_argument("--n", type=int, default=200, help="texts")
    parser.add_argument("--methods", default="", help="comma-separated; all")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=Path, help="default: results/<task>.jsonl")
    parser.add_argument("--summary", action="store_true")
    args = parser.parse_args()
    if args.rows is None:
        args.rows = RESULTS / f"{args.task}.jsonl"
    (summary if args.summary else run)(args)


if __name__ == "__main__":
    main()
