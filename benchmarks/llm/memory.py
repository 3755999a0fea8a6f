"""Peak memory of explaining a long prompt, against ``internal_batch_size``
(issue 32: memory bounded by it on long prompts).

Usage (Gemma 3 270M needs ``pip install 'captum-nlp-ext[gemma]'``)::

    python -m benchmarks.llm.memory [--words 300] [--sizes 4,16,64]

Each setting runs in a process of its own (peak resident memory is a
per-process high-water mark): the model is loaded, its resident size read,
then NLGP explains the opening of an IMDB review (one template slot a word)
for the model's own next token, and the peak is read again. The difference is
what the explanation added.
"""

import argparse
import json
import resource
import subprocess
import sys

import torch
from benchmarks.common import machine, today
from captum.attr import TextTemplateInput

from captum_nlp_ext.attr import CausalLMAttribution, LayerNLGP
from captum_nlp_ext.causal_lm import GEMMA_270M, load_causal_lm
from captum_nlp_ext.datasets import load_imdb_sample


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    model, tokenizer = load_causal_lm(args.model)
    loaded = _peak_mib()
    review = next(
        e for e in load_imdb_sample("valid") if len(e.words) >= args.words
    ).words[: args.words]
    inp = TextTemplateInput(" ".join(["{}"] * len(review)), list(review))
    tokens = len(tokenizer(inp.to_model_input())["input_ids"])
    layer = model.get_input_embeddings()  # type: ignore[operator]
    explainer = CausalLMAttribution(LayerNLGP(model, layer), tokenizer)
    explainer.attribute(
        inp,
        gen_args={"max_new_tokens": 1},
        n_samples=args.samples,
        internal_batch_size=args.size,
        seed=0,
    )
    peak = _peak_mib()
    print(
        json.dumps(
            {
                "internal_batch_size": args.size,
                "prompt_tokens": tokens,
                "loaded_mib": round(loaded),
                "peak_mib": round(peak),
                "added_mib": round(peak - loaded),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=GEMMA_270M)
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--sizes", default="4,16,64")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.size is not None:
        one(args)
        return
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        command = [
            sys.executable, "-m", "benchmarks.llm.memory", "--model", args.model,
            "--words", str(args.words), "--samples", str(args.samples),
            "--threads", str(args.threads), "--size", str(size),
        ]  # fmt: skip
        output = subprocess.run(command, check=True, capture_output=True, text=True)
        rows.append(json.loads(output.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"date": today(), "machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
