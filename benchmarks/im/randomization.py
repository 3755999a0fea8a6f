"""Model-randomization check of input marginalization on SST-2 dev.

Pham et al. (AACL 2022) found that input marginalization keeps giving
near-zero scores to words the MLM predicts well even for a randomized
classifier. This runs :func:`captum_nlp_ext.metrics.model_randomization`
(cascading, from the head down to the embeddings) on IM with the real MiniLM
classifier and MLM, and, beside it, on leave-one-out with [UNK] measured in the
same unit (the weight of evidence of replacing a word by [UNK]: IM with an
"MLM" that always proposes [UNK]). A method that explains the model should lose
its correlation with the trained model's attributions as layers are
randomized.

Usage: python -m benchmarks.im.randomization [--n 8] [--top-k 10]
[--absolute]

Appends its table to ``benchmarks/im/RESULTS.md`` (``--out``).
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from benchmarks.common import machine, sst2_model_and_sentences, today

from captum_nlp_ext.attr import LayerInputMarginalization
from captum_nlp_ext.datasets import resolve_models_dir
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    word_feature_mask,
)
from captum_nlp_ext.metrics import model_randomization


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--absolute", action="store_true", help="correlate magnitudes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--out", default=str(Path(__file__).resolve().parent / "RESULTS.md")
    )
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    from transformers import AutoModelForMaskedLM

    classifier, tokenizer, examples = sst2_model_and_sentences(options.n)
    mlm = AutoModelForMaskedLM.from_pretrained(resolve_models_dir() / "minilm-mlm")
    mlm.eval()
    enc = tokenizer(
        [e.words for e in examples],
        is_split_into_words=True,
        padding=True,
        return_tensors="pt",
    )
    ids, mask, units = enc["input_ids"], enc["attention_mask"], word_feature_mask(enc)
    labels = torch.tensor([e.label for e in examples])
    vocab = mlm.config.vocab_size

    def unk_mlm(input_ids, attention_mask):
        scores = torch.full((*input_ids.shape, vocab), -float("inf"))
        scores[..., tokenizer.unk_token_id] = 0.0
        return scores

    methods = {
        f"IM, top-{options.top_k}": (mlm, tokenizer.all_special_ids, options.top_k),
        "leave-one-out [UNK] (WoE)": (
            unk_mlm,
            [i for i in tokenizer.all_special_ids if i != tokenizer.unk_token_id],
            None,
        ),
    }
    lines = [
        "\n## Model randomization (cascading), "
        f"{today()}, `python {' '.join(sys.argv)}`\n",
        f"Machine: {machine()}. First {options.n} SST-2 dev sentences, word units, "
        "target = gold label. Spearman correlation a sentence between the trained "
        f"model's word attributions{' (absolute values)' if options.absolute else ''}"
        " and those after randomizing the layers down to the stage (mean [95% "
        "bootstrap interval]); lower means the method depends on what the model "
        "learned.\n",
    ]
    results = {}
    for name, (proposer, specials, top_k) in methods.items():

        def explain(model, proposer=proposer, specials=specials, top_k=top_k):
            im = LayerInputMarginalization(
                ClassifierForward(model),
                get_embedding_layer(model),
                proposer,
                mask_token_id=tokenizer.mask_token_id,
                special_token_ids=specials,
                pad_token_id=tokenizer.pad_token_id,
            )
            return im.attribute(
                ids,
                target=labels,
                additional_forward_args=(mask,),
                feature_mask=units,
                top_k=top_k,
                internal_batch_size=options.batch,
            )

        start = time.perf_counter()
        results[name] = model_randomization(
            classifier, explain, feature_mask=units, absolute=options.absolute
        )
        lines.append(f"- {name}: {time.perf_counter() - start:.0f} s")
    stages = list(next(iter(results.values())))
    lines.append("\n| stage randomized (cumulative) | " + " | ".join(results) + " |")
    lines.append("|---|" + "---|" * len(results))
    for stage in stages:
        cells = [
            f"{r[stage].mean:.2f} [{r[stage].ci_low:.2f}, {r[stage].ci_high:.2f}]"
            for r in results.values()
        ]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    with open(options.out, "a") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
