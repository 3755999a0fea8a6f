"""Is DiffMask's fit robust to its seeds and to the thread count? Each run
builds one of the tests' tiny tasks with a seed, trains the tiny BERT on it,
fits the input-gate probe at the settings the tests document, and scores the
held-out gates (precision and recall of the tokens kept, i.e. expected gate >
0.5, against the planted evidence; the share of sentences whose highest gate
is evidence; the held-out KL).

Usage: python -m benchmarks.diffmask.robustness [--task conjunction|keyword]
    [--seeds 0 1 2 3 4] [--threads 1] [--epochs N] [--out FILE]

The tasks and their settings (those of tests/attr/test_diffmask.py):
  conjunction: keyword_conjunction_task(n=700), 600 to train, 300 classifier
               steps, DiffMask.fit(200 batches of 32, epochs=3, lr=3e-3);
  keyword: planted_keyword_task(n=600), 500 to train, 120 classifier steps,
           DiffMask.fit(120 batches of 32, epochs=3) at its defaults (lr 3e-4).
The thread count is torch's intra-op threads (set before any work): the last
bits of the matrix products differ between counts, so a fit that is fragile
gives other gates.
"""

import argparse
import json
import sys
import time

import torch

from captum_nlp_ext.attr import DiffMask
from captum_nlp_ext.testing import (
    keyword_conjunction_task,
    planted_keyword_task,
    tiny_bert_classifier,
    train_classifier,
)

# task, examples, of which to train, classifier steps, probe batches, fit options
SETTINGS = {
    "conjunction": (keyword_conjunction_task, 700, 600, 300, 200, dict(lr=3e-3)),
    "keyword": (planted_keyword_task, 600, 500, 120, 120, {}),
}


def run(task_name, seed, epochs):
    make_task, n, n_train, classifier_steps, steps, options = SETTINGS[task_name]
    train, test = make_task(n=n, seed=seed).split(n_train)
    model = tiny_bert_classifier(train.vocab_size, seed=seed)
    accuracy = train_classifier(model, train, steps=classifier_steps, seed=seed)
    diffmask = DiffMask(model, seed=seed)
    start = time.perf_counter()
    history = diffmask.fit(
        train.sampled_batches(steps, seed=seed), epochs=epochs, seed=seed, **options
    )
    seconds = time.perf_counter() - start
    gates = diffmask.attribute(
        test.input_ids,
        additional_forward_args=(test.attention_mask,),
        feature_mask=test.feature_mask,
    )
    kept = gates > 0.5
    words = test.feature_mask >= 0
    evidence = test.evidence & words
    precision = (kept & evidence).sum() / kept[words].sum().clamp_min(1)
    recall = (kept & evidence).sum() / evidence.sum()
    kl = diffmask.divergence(test.input_ids, test.attention_mask)
    # DiffMask keeps a minimal sufficient subset: where the model's answer on
    # evidence-free text is already one class, that class's evidence may be
    # dropped, so the scores are also given class by class.
    by_class = {}
    for label in (0, 1):
        rows = test.labels == label
        kept_here = kept[rows] & words[rows]
        evidence_here = evidence[rows]
        by_class[label] = dict(
            recall=round(
                float((kept_here & evidence_here).sum() / evidence_here.sum()), 3
            ),
            top1=round(test.select(rows).evidence_ranked_first(gates[rows]), 3),
        )
    return dict(
        task=task_name,
        seed=seed,
        epochs=len(history),
        threads=torch.get_num_threads(),
        classifier_accuracy=round(accuracy, 3),
        precision=round(float(precision), 3),
        recall=round(float(recall), 3),
        top1=round(float(test.evidence_ranked_first(gates)), 3),
        by_class=by_class,
        kl=round(float(kl.mean()), 4),
        train_kl=round(history[-1]["kl"], 4),
        l0=round(history[-1]["l0"], 3),
        multiplier=round(history[-1]["multiplier"], 2),
        fit_seconds=round(seconds, 1),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--task", choices=["conjunction", "keyword"], default="conjunction"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--epochs",
        type=int,
        default=3,
        help="passes of the fit (default: 3, the tests')",
    )
    parser.add_argument("--out", default=None)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    rows = []
    for seed in options.seeds:
        row = run(options.task, seed, options.epochs)
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    if options.out:
        with open(options.out, "a") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
