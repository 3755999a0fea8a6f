"""Which reading of NLGP should be the default? The benchmark's faithfulness
metrics on SST-2 dev for each reading and setting that stays within MASE's
"normalized linear Gaussian perturbations of the embeddings".

Usage (one thread; resumable, one run folder a setting under ``--out``)::

    python -m benchmarks.nlgp.readings --out runs/nlgp-readings --n 100

Each setting runs through the benchmark runner (``nlgp`` with ``--set``-style
overrides, the same seeds, budget ``--budget``); the table gives each metric's
mean with its 95% bootstrap interval, the paired difference from the current
default (``scale``, sigma 0.5, dense, no kernel, ridge 1e-3) over the same
sentences, the mean convergence estimate and the forward rows an example.
Settings are chosen on dev data only.
"""

import argparse
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from captum_nlp_ext.benchmark import DataSource, run_benchmark, RunSettings
from captum_nlp_ext.benchmark._read import read_run
from captum_nlp_ext.datasets import resolve_models_dir
from captum_nlp_ext.metrics import summarize

SETTINGS: List[Tuple[str, Dict[str, Any]]] = [
    ("default (scale, sigma 0.5)", {}),
    ("scale, sigma 0.25", {"stdevs": 0.25}),
    ("scale, sigma 1.0", {"stdevs": 1.0}),
    ("sparse (p_perturb 0.5)", {"p_perturb": 0.5}),
    ("toward zero (reference)", {"perturbation": "reference"}),
    ("toward [PAD] (reference)", {"perturbation": "reference", "baselines": 0}),
    (
        "toward [PAD], sigma 1.0",
        {"perturbation": "reference", "baselines": 0, "stdevs": 1.0},
    ),
    ("scale, sigma 0.75", {"stdevs": 0.75}),
    ("isotropic, sigma 0.5", {"perturbation": "isotropic"}),
    ("isotropic, sigma 1.0", {"perturbation": "isotropic", "stdevs": 1.0}),
    ("kernel weights (width 1)", {"kernel_width": 1.0}),
    ("ridge 1.0", {"ridge": 1.0}),
    ("logits explained", {"output": "logits"}),
    ("samples_per_unit 8", {"samples_per_unit": 8.0}),
    ("samples_per_unit 16", {"samples_per_unit": 16.0}),
]
METRICS = (
    "comprehensiveness",
    "sufficiency",
    "delta_accuracy",
    "deletion_auc",
    "insertion_auc",
)
LOWER = {"sufficiency", "deletion_auc"}


def folder_name(options: Dict[str, Any]) -> str:
    return "-".join(f"{k}={v}" for k, v in sorted(options.items())) or "default"


def interval(values: List[float], signed: bool = False) -> str:
    r = summarize("", torch.tensor(values, dtype=torch.float64))
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(r.mean)} [{f.format(r.ci_low)}, {f.format(r.ci_high)}]"


def records(folder: Path) -> Dict[int, Dict[str, Any]]:
    return {r["example"]: r for r in read_run(folder).records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--budget", type=int, default=128)
    parser.add_argument("--models-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model = resolve_models_dir(args.models_dir) / "minilm-sst2"
    folders = []
    for _, options in SETTINGS:
        folder = args.out / folder_name(options)
        run_benchmark(
            model,
            DataSource("sst2", n=args.n),
            folder,
            RunSettings(
                methods=("nlgp",),
                budget=args.budget,
                method_options={"nlgp": options},
            ),
            metrics=list(METRICS),
            show_progress=False,
        )
        folders.append(folder)
    base = records(folders[0])
    arrows = [f"{m} {'↓' if m in LOWER else '↑'}" for m in METRICS]
    print(f"SST-2 dev, first {args.n} sentences, budget {args.budget}")
    print(f"| setting | {' | '.join(arrows)} | convergence | fwd rows/ex |")
    print("|---" * (3 + len(METRICS)) + "|")
    for (label, _), folder in zip(SETTINGS, folders):
        rows = records(folder)
        cells = []
        for metric in METRICS:
            mine = [r["metrics"][metric] for r in rows.values()]
            cell = interval(mine)
            if folder != folders[0]:
                diffs = [
                    rows[e]["metrics"][metric] - base[e]["metrics"][metric]
                    for e in sorted(set(rows) & set(base))
                ]
                cell += f"<br>{interval(diffs, signed=True)}"
            cells.append(cell)
        convergence: List[Optional[float]] = [
            r.get("convergence") for r in rows.values()
        ]
        known = [c for c in convergence if c is not None]
        mean_c = sum(known) / len(known) if known else float("nan")
        fwd = sum(r["cost"]["forward_rows"] for r in rows.values()) / len(rows)
        print(f"| {label} | {' | '.join(cells)} | {mean_c:.2f} | {fwd:.0f} |")


if __name__ == "__main__":
    main()
