"""Peak memory of ``captum-nlp attribute`` against the corpus's size: IMDB
reviews streamed from a JSONL file (the 1,000 reviews of the IMDB sample,
cycled to the size asked for), each size in a fresh process, one torch thread.

The peak resident set of each run's process (``ru_maxrss``) is what the
machine had to give it; a run that read and encoded the whole file up front
would grow with the corpus.

    python -m benchmarks.corpus.memory [--sizes 1000,10000] [--method saliency]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import machine, today

from captum_nlp_ext.datasets import load_imdb_sample

CHILD = """
import resource, sys
from captum_nlp_ext.cli import main
code = main(sys.argv[1:])
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def write_corpus(path: Path, size: int) -> int:
    reviews = load_imdb_sample("train") + load_imdb_sample("valid")
    words = 0
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(size):
            review = reviews[i % len(reviews)]
            words += len(review.words)
            handle.write(json.dumps({"id": f"r{i}", "text": review.text}) + "\n")
    return words // size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--method", default="saliency")
    parser.add_argument("--out", default="/tmp/corpus-memory")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"date: {today()}")
    print(f"machine: {machine()}, one torch thread")
    print(f"method {args.method}, budget 128, batch 16, internal batch 64, "
          "128 tokens a review (cut), default shards")  # fmt: skip
    print("| reviews | mean words a review | file MiB | peak RSS MiB | seconds |")
    print("|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        data = out / f"imdb-{size}.jsonl"
        mean_words = write_corpus(data, size)
        command = [sys.executable, "-c", CHILD, "attribute", "--dataset", str(data)]
        command += ["--id-field", "id", "--methods", args.method, "--threads", "1"]
        command += ["--out", str(out / f"run-{size}"), "--overwrite", "--no-progress"]
        start = time.perf_counter()
        done = subprocess.run(
            command,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            check=True,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        peak = int(done.stdout.split("PEAK_KIB")[-1].split()[0]) / 1024
        mib = data.stat().st_size / 2**20
        print(f"| {size:,} | {mean_words} | {mib:.1f} | {peak:.0f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
