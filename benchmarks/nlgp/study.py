"""Which NLGP reading is most faithful? A small study that picks the default.

Usage: python -m benchmarks.nlgp.study [--n 48] [--samples 128]

For each setting (reading, sigma, sparsity): the planted-keyword hit rate on the
synthetic task (tiny BERT trained in seconds), and on SST-2 dev sentences with the
MiniLM SST-2 model: Captum's infidelity under random [MASK] word masking
(normalized, lower is better) and NLGP's own convergence delta.
"""

import argparse

import torch
from benchmarks.common import machine, split_settings, sst2_batch, today
from captum.metrics import infidelity

from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer
from captum_nlp_ext.metrics import summarize, WordMasking
from captum_nlp_ext.testing import (
    planted_keyword_task,
    tiny_bert_classifier,
    train_classifier,
)

SETTINGS = [
    dict(perturbation="scale", stdevs=0.25),
    dict(perturbation="scale", stdevs=0.5),
    dict(perturbation="scale", stdevs=0.5, p_perturb=0.5),
    dict(perturbation="reference", stdevs=0.5),
    dict(perturbation="isotropic", stdevs=0.5),
    dict(perturbation="isotropic", stdevs=1.0),
]


def keyword_hit_rate(settings: dict, samples: int) -> float:
    task = planted_keyword_task(n=600, seed=0)
    train, test = task.split(500)
    model = tiny_bert_classifier(task.vocab_size, seed=0)
    train_classifier(model, train, steps=120)
    made, call = split_settings(LayerNLGP, settings)
    nlgp = LayerNLGP(ClassifierForward(model), get_embedding_layer(model), **made)
    attributions = nlgp.attribute(
        test.input_ids,
        target=test.labels,
        additional_forward_args=(test.attention_mask,),
        feature_mask=test.feature_mask,
        n_samples=samples,
        seed=0,
        **call,
    )
    return test.evidence_ranked_first(attributions)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--samples", type=int, default=128)
    args = parser.parse_args()
    model, tokenizer, ids, mask, units = sst2_batch(args.n)
    forward = ClassifierForward(model, output="probs")
    with torch.no_grad():
        target = forward(ids, mask).argmax(-1)
    masking = WordMasking(tokenizer.mask_token_id, units, rate=0.2)
    print(f"date: {today()}; machine: {machine()}")
    print(
        f"{args.n} SST-2 dev sentences, {args.samples} samples; keyword task: 100 "
        "test sentences"
    )
    print("| setting | keyword first | infidelity ([MASK] 20%, normalized) | delta |")
    print("|---|---|---|---|")
    for settings in SETTINGS:
        made, call = split_settings(LayerNLGP, settings)
        nlgp = LayerNLGP(forward, get_embedding_layer(model), **made)
        attributions, delta = nlgp.attribute(
            ids,
            target=target,
            additional_forward_args=(mask,),
            feature_mask=units,
            n_samples=args.samples,
            seed=0,
            return_convergence_delta=True,
            internal_batch_size=128,
            **call,
        )
        torch.manual_seed(0)
        scores = infidelity(
            forward,
            masking.infidelity,
            ids,
            attributions,
            additional_forward_args=(mask,),
            target=target,
            n_perturb_samples=16,
            normalize=True,
        )
        result = summarize("infidelity", scores)
        hit = keyword_hit_rate(settings, args.samples)
        name = ", ".join(f"{k}={v}" for k, v in settings.items())
        print(
            f"| {name} | {hit:.2f} | {result.mean:.4f} "
            f"[{result.ci_low:.4f}, {result.ci_high:.4f}] | {delta.mean():.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
