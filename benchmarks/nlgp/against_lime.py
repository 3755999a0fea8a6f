"""MASE's claim, measured: NLGP against LIME and KernelSHAP at equal budgets.

MASE (arXiv 2512.04386) claims that NLGP beats LIME and SHAP, especially on
Delta Accuracy. This script summarizes benchmark runs of the three methods at
each budget (model evaluations an example) on one data set: each metric's mean
with its 95% bootstrap interval, and the paired difference NLGP - LIME and
NLGP - KernelSHAP over the same examples.

Run the benchmark first, one folder a budget (one thread a process), e.g. for
SST-2 dev::

    captum-nlp benchmark --dataset sst2 --n 200 --methods random \\
        --metrics comprehensiveness,sufficiency,delta_accuracy \\
        --out runs/da/sst2-random --threads 1
    for b in 32 64 128 256; do
      captum-nlp benchmark --dataset sst2 --n 200 --budget $b \\
          --methods nlgp,lime,kernel_shap \\
          --metrics comprehensiveness,sufficiency,delta_accuracy \\
          --out runs/da/sst2-b$b --threads 1
    done
    python -m benchmarks.nlgp.against_lime runs/da sst2 --budgets 32,64,128,256

(``--nlgp-from pad`` reads NLGP from folders ``sst2-pad-b$b`` of its own, e.g.
after a change of its default, and shows the other folders' NLGP as the earlier
reading.)

(the IMDB sample: ``--dataset imdb --n 30 --model minilm-movies --max-length
256``, folders ``imdb-*``).

``delta_accuracy`` is the benchmark's (flipped predictions, the mean over k =
1, 2, 3, 5 words and 10, 20%); ``delta_accuracy_gold`` is the same against the
gold labels, derived per example for two classes: removing words that flip a
correct prediction costs accuracy (+1), flipping a wrong one gains it (-1).
"""

import argparse
from pathlib import Path
from typing import Dict, List, Optional

import torch

from captum_nlp_ext.benchmark._read import read_run
from captum_nlp_ext.metrics import summarize

METHODS = ("nlgp", "lime", "kernel_shap")
METRICS = ("comprehensiveness", "sufficiency", "delta_accuracy", "delta_accuracy_gold")
HIGHER = {"sufficiency": False}


def by_example(folder: Path) -> Dict[str, Dict[int, Dict[str, Optional[float]]]]:
    """method -> example -> metric -> value, with the gold Delta Accuracy."""
    out: Dict[str, Dict[int, Dict[str, Optional[float]]]] = {}
    for record in read_run(folder).records:
        values = dict(record["metrics"])
        flips = values.get("delta_accuracy")
        if flips is not None and record.get("label") is not None:
            sign = 1.0 if record["prediction"] == record["label"] else -1.0
            values["delta_accuracy_gold"] = sign * flips
        out.setdefault(record["method"], {})[record["example"]] = values
    return out


def cell(values: List[float]) -> str:
    result = summarize("", torch.tensor(values, dtype=torch.float64))
    return f"{result.mean:.3f} [{result.ci_low:.3f}, {result.ci_high:.3f}]"


def paired(
    a: Dict[int, Dict[str, Optional[float]]],
    b: Dict[int, Dict[str, Optional[float]]],
    metric: str,
) -> str:
    diffs = [
        a[e][metric] - b[e][metric]  # type: ignore[operator]
        for e in sorted(set(a) & set(b))
        if a[e].get(metric) is not None and b[e].get(metric) is not None
    ]
    result = summarize("", torch.tensor(diffs, dtype=torch.float64))
    return f"{result.mean:+.3f} [{result.ci_low:+.3f}, {result.ci_high:+.3f}]"


def values(runs: Dict[int, Dict[str, Optional[float]]], metric: str) -> List[float]:
    found = (v.get(metric) for v in runs.values())
    return [value for value in found if value is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, help="folder of the run folders")
    parser.add_argument("dataset", help="the folders' prefix, e.g. sst2")
    parser.add_argument("--budgets", default="32,64,128,256")
    parser.add_argument(
        "--nlgp-from",
        default=None,
        help="take nlgp from the folders DATASET-PREFIX-bB (runs of the current "
        "default); the nlgp of DATASET-bB is then shown as 'nlgp (scale)', the "
        "earlier default",
    )
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    header = " | ".join(
        f"{m} {'↓' if HIGHER.get(m) is False else '↑'}" for m in METRICS
    )
    print(f"| budget | method | n | {header} |")
    print("|---" * (3 + len(METRICS)) + "|")
    random = by_example(args.runs / f"{args.dataset}-random").get("random", {})
    cells = " | ".join(cell(values(random, m)) for m in METRICS)
    print(f"| - | random | {len(random)} | {cells} |")
    diff_rows = []
    for budget in budgets:
        runs = {}
        folder = args.runs / f"{args.dataset}-b{budget}"
        if (folder / "results.jsonl").exists():
            runs = by_example(folder)
        if args.nlgp_from:
            current = args.runs / f"{args.dataset}-{args.nlgp_from}-b{budget}"
            if "nlgp" in runs:
                runs["nlgp (scale)"] = runs.pop("nlgp")
            if (current / "results.jsonl").exists():
                runs.update(by_example(current))
        order = ("nlgp", "nlgp (scale)", "lime", "kernel_shap")
        for method in [m for m in order if m in runs]:
            cells = " | ".join(cell(values(runs[method], m)) for m in METRICS)
            print(f"| {budget} | {method} | {len(runs[method])} | {cells} |")
        for mine in ("nlgp", "nlgp (scale)"):
            for other in ("lime", "kernel_shap"):
                if mine in runs and other in runs:
                    cells = " | ".join(
                        paired(runs[mine], runs[other], m) for m in METRICS
                    )
                    diff_rows.append(f"| {budget} | {mine} - {other} | {cells} |")
    print()
    print(f"| budget | paired difference | {header} |")
    print("|---" * (2 + len(METRICS)) + "|")
    print("\n".join(diff_rows))


if __name__ == "__main__":
    main()
