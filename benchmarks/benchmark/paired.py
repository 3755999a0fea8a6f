"""Paired differences of two methods' metrics over the examples both explained:
mean of (B - A) per metric with its 95% bootstrap interval, from benchmark run
folders (the same data set, split and examples).

Usage: python -m benchmarks.benchmark.paired RUN_A[:METHOD] RUN_B[:METHOD]

METHOD defaults to the folder's only method. A positive difference means B is
higher; whether that is better depends on the metric (the arrow printed).
"""

import argparse
import sys

import torch

from captum_nlp_ext.benchmark._read import read_run
from captum_nlp_ext.metrics import summarize


def records(spec):
    folder, _, method = spec.partition(":")
    run = read_run(folder)
    methods = sorted({r["method"] for r in run.records})
    if not method:
        if len(methods) != 1:
            sys.exit(f"{folder} has methods {methods}: name one as {folder}:METHOD")
        method = methods[0]
    by_example = {r["example"]: r for r in run.records if r["method"] == method}
    higher = {
        name: entry.get("higher_is_better")
        for name, entry in (run.settings.get("metric_settings") or {}).items()
    }
    return by_example, higher


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    args = parser.parse_args()
    first, higher = records(args.a)
    second, _ = records(args.b)
    shared = sorted(set(first) & set(second))
    print(f"{len(shared)} examples in both; B - A:")
    for metric in sorted({m for r in first.values() for m in r["metrics"]}):
        diffs = [
            second[e]["metrics"].get(metric) - first[e]["metrics"].get(metric)
            for e in shared
            if first[e]["metrics"].get(metric) is not None
            and second[e]["metrics"].get(metric) is not None
        ]
        result = summarize(metric, torch.tensor(diffs, dtype=torch.float64))
        arrow = {True: "↑", False: "↓"}.get(higher.get(metric), "")
        print(
            f"  {metric} {arrow}: {result.mean:+.3f} "
            f"[{result.ci_low:+.3f}, {result.ci_high:+.3f}] (n={result.n})"
        )


if __name__ == "__main__":
    main()
