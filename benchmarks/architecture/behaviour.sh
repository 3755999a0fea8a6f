# usage: behaviour.sh REPO OUT  -- a fixed small benchmark run (4 methods, --jobs 2),
# cut to its first records and resumed, and a corpus run, with REPO's code
# (run it with the venv active; REPO is a checkout, e.g. a git worktree of the
# commit to compare with). Then: python -m benchmarks.architecture.compare OUT1 OUT2
set -e
repo=$1; out=$2
rm -rf "$out"; mkdir -p "$out"
cd "$repo"
export OMP_NUM_THREADS=1 CAPTUM_NLP_CACHE="$out/cache"
bench() {
  python -m captum_nlp_ext benchmark --dataset sst2 --n 8 --methods nlgp,lig,occlusion,random \
    --budget 32 --jobs 2 --threads 1 --quiet --out "$out/bench" "$@"
}
bench
cp "$out/bench/results.jsonl" "$out/full.jsonl"
head -n 12 "$out/full.jsonl" > "$out/bench/results.jsonl"   # as a killed run leaves it
bench --resume
python -m captum_nlp_ext attribute --dataset sst2 --n 10 --methods nlgp,lig,random \
  --budget 32 --shard-size 4 --quiet --out "$out/corpus"
echo done
