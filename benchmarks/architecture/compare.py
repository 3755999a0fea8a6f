"""Compare two behaviour runs (behaviour.sh) bit for bit, timings and
where/when a run ran aside."""

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

a, b = Path(sys.argv[1]), Path(sys.argv[2])
VOLATILE = {"started", "machine", "versions", "model_path", "summary"}
TIMING = {"seconds", "peak_memory_bytes", "memory_source"}


def records(path):
    out = {}
    for line in open(path):
        r = json.loads(line)
        r["cost"] = {k: v for k, v in r.get("cost", {}).items() if k not in TIMING}
        out[(r["example"], r["method"])] = r
    return out


problems = []
for name in ("full.jsonl", "bench/results.jsonl"):
    x, y = records(a / name), records(b / name)
    if x != y:
        keys = [k for k in set(x) | set(y) if x.get(k) != y.get(k)]
        problems.append(f"{name}: {len(keys)} records differ, e.g. {sorted(keys)[:3]}")
    else:
        print(f"{name}: {len(x)} records identical")
# the resumed run equals the uninterrupted one
for side in (a, b):
    if records(side / "full.jsonl") != records(side / "bench/results.jsonl"):
        problems.append(f"{side}: the resumed run differs from the full one")
for name in ("bench/run.json", "corpus/manifest.json"):
    x = {k: v for k, v in json.load(open(a / name)).items() if k not in VOLATILE}
    y = {k: v for k, v in json.load(open(b / name)).items() if k not in VOLATILE}
    if x != y:
        problems.append(
            f"{name}: {[k for k in set(x) | set(y) if x.get(k) != y.get(k)]}"
        )
    else:
        print(f"{name}: identical apart from {sorted(VOLATILE)}")
shards = sorted(p.name for p in (a / "corpus/shards").glob("*.parquet"))
assert shards == sorted(p.name for p in (b / "corpus/shards").glob("*.parquet"))
for name in shards:
    x = pq.read_table(a / "corpus/shards" / name)
    y = pq.read_table(b / "corpus/shards" / name)
    mx = json.loads(x.schema.metadata[b"captum_nlp_ext"])
    my = json.loads(y.schema.metadata[b"captum_nlp_ext"])
    mx = {k: v for k, v in mx.items() if k not in VOLATILE}
    my = {k: v for k, v in my.items() if k not in VOLATILE}
    if not x.equals(y) or mx != my:
        problems.append(f"shard {name} differs")
    else:
        print(f"shard {name}: {x.num_rows} rows identical")
print("\n".join(problems) if problems else "SAME")
