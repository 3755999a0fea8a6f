"""``captum-nlp attribute`` on 1 and 2 ranks of ``torchrun`` (gloo, one torch
thread each): the wall-time ratio for NLGP and Captum's
LayerIntegratedGradients over SST-2 dev sentences read from a JSONL file.

Each (method, ranks) run is repeated, the orders alternating (1, 2, 2, 1, ...),
so that the ratios compare runs of one sitting. "job" is the time the
manifest records (the examples' work: from rank 0's plan to the last shard);
"command" adds starting the processes and loading the model once per rank.

    python -m benchmarks.corpus.scaling [--n 400] [--repeats 2] [--out DIR]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import machine, today

from captum_nlp_ext.datasets import load_sst2


def run(ranks: int, method: str, data: Path, out: Path) -> dict:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={ranks}", "-m", "captum_nlp_ext", "attribute"]
    command += ["--dataset", str(data), "--methods", method, "--threads", "1"]
    command += ["--out", str(out), "--overwrite", "--no-progress", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    summary = json.loads((out / "manifest.json").read_text())["summary"]
    return {"command": wall, "job": summary["seconds"]}


CAPACITY = """
import sys, time, torch
torch.set_num_threads(1)
a, b = torch.randn(384, 384), torch.randn(2560, 384)
start, n = time.perf_counter(), 0
while time.perf_counter() - start < 15:
    (b @ a).relu_()
    n += 1
print(n / (time.perf_counter() - start))
"""


def capacity() -> float:
    """What two one-thread processes get of the CPU against one: the ratio of
    their summed matrix products per second (the ceiling of any speed-up)."""
    alone = float(subprocess.run([sys.executable, "-c", CAPACITY], capture_output=True,
                                 text=True, check=True).stdout)  # fmt: skip
    pair = [subprocess.Popen([sys.executable, "-c", CAPACITY], stdout=subprocess.PIPE,
                             text=True) for _ in range(2)]  # fmt: skip
    return sum(float(p.communicate()[0]) for p in pair) / alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--methods", default="nlgp,lig")
    parser.add_argument("--out", default="/tmp/corpus-scaling")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"sst2-dev-{args.n}.jsonl"
    with open(data, "w", encoding="utf-8") as handle:
        for e in load_sst2("dev", limit=args.n):
            handle.write(json.dumps({"text": e.text, "label": e.label}) + "\n")
    print(f"date: {today()}")
    print(f"machine: {machine()}, one torch thread a rank")
    print(f"{args.n} SST-2 dev sentences, budget 128, batch 16, default shards")
    print(f"the CPU's own ceiling, two one-thread processes: {capacity():.2f}x")
    print("| method | ranks | job s (each run) | command s | job speed-up | "
          "command speed-up |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for method in args.methods.split(","):
        times: dict = {1: [], 2: []}
        for repeat in range(args.repeats):
            order = (1, 2) if repeat % 2 == 0 else (2, 1)
            for ranks in order:
                times[ranks].append(run(ranks, method, data, out / f"{method}-{ranks}"))
        one = {k: statistics.mean(t[k] for t in times[1]) for k in ("job", "command")}
        for ranks in (1, 2):
            mean = {
                k: statistics.mean(t[k] for t in times[ranks])
                for k in ("job", "command")
            }
            each = ", ".join(f"{t['job']:.1f}" for t in times[ranks])
            print(
                f"| {method} | {ranks} | {each} | {mean['command']:.1f} | "
                f"{one['job'] / mean['job']:.2f}x | "
                f"{one['command'] / mean['command']:.2f}x |"
            )


if __name__ == "__main__":
    main()
