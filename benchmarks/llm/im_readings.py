"""Input marginalization on a causal LM: which candidates (issue 32).

No masked LM shares a causal LM's tokenizer, so the candidates that replace a
prompt word come from the causal LM itself (``CausalLMCandidates``). Two
readings, measured here against each other and against random scores:

- ``both``: the candidates proposed by the model's next-token distribution
  given the left context, weighted by both sides (the probability of the
  candidate prompt from the word on: Bayes' rule on the model's chain);
- ``left``: the same candidates weighted by the left context alone;
- ``feature_ablation``: Captum's occlusion of each word (the word removed
  from the prompt), for reference.

Task: four-shot SST-2 (dev sentences), Gemma 3 270M, the target the model's
own answer (" positive" or " negative", whichever it prefers) contrasted with
the other. Metrics: AOPC comprehensiveness and sufficiency of the target's
share of the two answers, words removed to the padding token (ERASER's
percentages).

Usage (resumable: one JSON line per sentence in --out)::

    python -m benchmarks.llm.im_readings --n 40 --top-k 8 --out DIR
    python -m benchmarks.llm.im_readings --out DIR --summary

The rows of 2026-12-08 are in ``benchmarks/llm/results/im_readings/``.
"""

import argparse
import json
import time
from pathlib import Path
from typing import Any, cast

import torch
from benchmarks.common import machine, today
from benchmarks.llm.speed import demonstrations
from benchmarks.nlgp.against_lime import cell, paired
from captum.attr import FeatureAblation

from captum_nlp_ext.attr import (
    CausalLMAttribution,
    CausalLMCandidates,
    LayerInputMarginalization,
)
from captum_nlp_ext.attr._utils.llm_scores import ContinuationScores
from captum_nlp_ext.causal_lm import (
    few_shot_prompt,
    GEMMA_270M,
    load_causal_lm,
    SST2_LABEL_WORDS,
)
from captum_nlp_ext.datasets import load_sst2
from captum_nlp_ext.metrics import aopc_comprehensiveness, aopc_sufficiency, Removal

READINGS = ("both", "left", "feature_ablation", "random")
METRICS = ("aopc_comprehensiveness", "aopc_sufficiency")


def explain(args: argparse.Namespace, out: Path) -> None:
    torch.set_num_threads(args.threads)
    model, tokenizer = load_causal_lm(args.model)
    layer = cast(Any, model).get_input_embeddings()
    explainers: dict = {
        reading: CausalLMAttribution(
            LayerInputMarginalization(
                model,
                layer,
                CausalLMCandidates(model, both_sides=reading == "both"),
                tokenizer=tokenizer,
                mlm_batch_size=args.batch,
            ),
            tokenizer,
        )
        for reading in ("both", "left")
    }
    explainers["feature_ablation"] = CausalLMAttribution(
        FeatureAblation(model), tokenizer
    )
    pad = Removal("pad", token_id=tokenizer.pad_token_id)
    shots = demonstrations()
    path = out / "sentences.jsonl"
    done = len(path.read_text().splitlines()) if path.exists() else 0
    sentences = load_sst2("dev", limit=args.n)
    for index, example in enumerate(sentences):
        if index < done:
            continue
        inp = few_shot_prompt(example.words, shots)
        answers = ordered_answers(model, tokenizer, inp)
        row = {"index": index, "target": answers[0], "words": len(example.words)}
        attributions = {}
        for reading, explainer in explainers.items():
            options = (
                {}
                if reading == "feature_ablation"
                else {"top_k": args.top_k, "internal_batch_size": args.batch}
            )
            start = time.perf_counter()
            attributions[reading] = explainer.attribute(
                inp,
                target=answers[0],
                contrast=answers[1],
                **options,
            ).seq_attr
            row[f"{reading}:seconds"] = round(time.perf_counter() - start, 1)
        generator = torch.Generator().manual_seed(index)
        attributions["random"] = torch.rand(len(example.words), generator=generator)
        for reading, seq_attr in attributions.items():
            scored = explainers["left"].removal_inputs(
                inp, seq_attr, answers[0], contrast=answers[1]
            )
            for metric, function in zip(
                METRICS, (aopc_comprehensiveness, aopc_sufficiency)
            ):
                result = function(**scored.metric_kwargs, removal=pad)
                row[f"{reading}:{metric}"] = float(result.mean)
        with path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


def ordered_answers(model, tokenizer, inp) -> list:
    """The model's own answer (the label word it gives the higher
    probability) and the other one: what is explained, against what. One pass,
    through the scores every explanation uses (log p(positive) - log
    p(negative), read from the same logits)."""
    answers = [SST2_LABEL_WORDS[1], SST2_LABEL_WORDS[0]]
    prompt = tokenizer(inp.to_model_input(), return_tensors="pt")["input_ids"]
    first, second = (
        torch.tensor(tokenizer.encode(a, add_special_tokens=False)) for a in answers
    )
    scores = ContinuationScores(
        model,
        model.get_input_embeddings(),
        prompt.shape[1],
        first,
        contrast_ids=second,
    )
    with torch.no_grad():
        if float(scores(torch.cat([prompt, first[None]], 1))) < 0:
            answers.reverse()
    return answers


def summary(out: Path) -> None:
    rows = [json.loads(line) for line in (out / "sentences.jsonl").open()]
    runs = {
        reading: {
            row["index"]: {m: row[f"{reading}:{m}"] for m in METRICS} for row in rows
        }
        for reading in READINGS
    }
    lines = [
        f"# Input marginalization on Gemma 3 270M: candidate readings "
        f"({today()}, {machine()})",
        "",
        f"{len(rows)} SST-2 dev sentences, four-shot prompt; 95% bootstrap "
        "intervals; paired differences per sentence.",
        "",
        "| reading | AOPC comprehensiveness (higher better) | AOPC sufficiency "
        "(lower better) |",
        "|---|---|---|",
    ]
    for reading in READINGS:
        lines.append(
            f"| {reading} | "
            + " | ".join(cell([r[m] for r in runs[reading].values()]) for m in METRICS)
            + " |"
        )
    lines += ["", "| pair | comprehensiveness | sufficiency |", "|---|---|---|"]
    for a, b in (("both", "left"), ("both", "random"), ("left", "random")):
        lines.append(
            f"| {a} - {b} | "
            + " | ".join(paired(runs[a], runs[b], m) for m in METRICS)
            + " |"
        )
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=GEMMA_270M)
    parser.add_argument("--n", type=int, default=40, help="SST-2 dev sentences")
    parser.add_argument("--top-k", type=int, default=8, help="candidates a word")
    parser.add_argument("--batch", type=int, default=16, help="rows per pass")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summary", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.summary:
        summary(args.out)
    else:
        explain(args, args.out)


if __name__ == "__main__":
    main()
