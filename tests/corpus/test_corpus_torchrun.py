"""Data-parallel runs under torchrun (gloo, CPU): two ranks write the rows of
one process, a rank killed mid-run resumes on one, and the benchmark command
shares its batches the same way."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from captum_nlp_ext.benchmark.runner import run_benchmark
from captum_nlp_ext.benchmark.store import load_run
from captum_nlp_ext.cli import main
from captum_nlp_ext.corpus import attribute_corpus, read_attributions
from captum_nlp_ext.corpus.shards import shard_files
from captum_nlp_ext.engine.settings import DataSource, RunSettings

FIELDS = {"label_field": "label", "rationale_field": "rationale", "id_field": "id"}


def attribute_args(model_dir, data, out, methods, shard_size):
    return [
        "attribute",
        "--model", str(model_dir),
        "--dataset", str(data),
        "--label-field", "label",
        "--rationale-field", "rationale",
        "--id-field", "id",
        "--methods", methods,
        "--budget", "16",
        "--shard-size", str(shard_size),
        "--out", str(out),
        "--threads", "1",
        "--no-progress",
    ]  # fmt: skip


def torchrun(ranks, args):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={ranks}", "-m", "captum_nlp_ext", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finished(proc, timeout=300):
    output, _ = proc.communicate(timeout=timeout)
    return proc.returncode, output


def one_process(model_dir, data, out, methods, shard_size, batch_size=16):
    return attribute_corpus(
        model_dir,
        DataSource(data, fields=FIELDS),
        out,
        RunSettings(
            methods=tuple(methods.split(",")), budget=16, batch_size=batch_size
        ),
        shard_size=shard_size,
        show_progress=False,
    ).run_dir


def test_two_ranks_write_the_rows_of_one_process(tmp_path, tiny_model_dir, toy_jsonl):
    methods = "nlgp,lig,lime,random"
    code, output = finished(
        torchrun(
            2, attribute_args(tiny_model_dir, toy_jsonl, tmp_path / "two", methods, 3)
        )
    )
    assert code == 0, output
    assert output.count("wrote ") == 1 and "on 2 rank(s)" in output
    single = one_process(tiny_model_dir, toy_jsonl, tmp_path / "one", methods, 3)
    two = read_attributions(tmp_path / "two")
    assert len(two) == 40 * 4
    assert two.equals(read_attributions(single))
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["summary"]["ranks"] == 2 and manifest["summary"]["explained"] == 40


def _state(out, rank):
    path = out / "progress" / f"rank-{rank}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_a_rank_killed_mid_run_resumes_on_one(tmp_path, tiny_model_dir, toy_jsonl):
    methods, out = "nlgp,lig,lime", tmp_path / "killed"
    args = attribute_args(tiny_model_dir, toy_jsonl, out, methods, 4)
    args += ["--batch-size", "2"]  # two batches a shard: a count of 4k + 2 is mid-shard
    proc = torchrun(2, args)
    deadline = time.time() + 240
    # Rank 1 is stopped in the middle of a shard after its first, and killed
    # once rank 0 has done everything else: its claimed shard is never written.
    while not (
        (_state(out, 1) or {}).get("examples", 0) % 4 == 2
        and _state(out, 1)["examples"] > 4
    ):
        assert proc.poll() is None, finished(proc)[1]
        assert time.time() < deadline
        time.sleep(0.003)
    pid = _state(out, 1)["pid"]
    os.kill(pid, signal.SIGSTOP)
    while not (_state(out, 0) or {}).get("finished"):
        assert proc.poll() is None, finished(proc)[1]
        assert time.time() < deadline
        time.sleep(0.05)
    assert len(shard_files(out)) == 9  # all but the one rank 1 was explaining
    os.kill(pid, signal.SIGKILL)
    code, output = finished(proc)
    assert code != 0
    assert main(args) == 0
    single = one_process(tiny_model_dir, toy_jsonl, tmp_path / "one", methods, 4, 2)
    assert read_attributions(out).equals(read_attributions(single))
    summary = json.loads((out / "manifest.json").read_text())["summary"]
    assert summary["explained"] == 4 and summary["ranks"] == 1


def test_the_benchmark_under_two_ranks(tmp_path, tiny_model_dir, toy_jsonl):
    args = [
        "benchmark",
        "--model", str(tiny_model_dir),
        "--dataset", str(toy_jsonl),
        "--label-field", "label",
        "--rationale-field", "rationale",
        "--methods", "nlgp,lig,random",
        "--metrics", "comprehensiveness,sufficiency,token_f1",
        "--examples", "24",  # torchrun takes --n for its own --nnodes
        "--batch-size", "4",
        "--budget", "16",
        "--threads", "1",
        "--no-progress",
        "--out", str(tmp_path / "two"),
    ]  # fmt: skip
    code, output = finished(torchrun(2, args))
    assert code == 0, output
    assert (tmp_path / "two" / "report.html").is_file()
    assert not list((tmp_path / "two").glob("results.rank-*"))
    single = run_benchmark(
        tiny_model_dir,
        DataSource(
            toy_jsonl,
            n=24,
            fields={"label_field": "label", "rationale_field": "rationale"},
        ),
        tmp_path / "one",
        RunSettings(methods=("nlgp", "lig", "random"), batch_size=4, budget=16),
        metrics=["comprehensiveness", "sufficiency", "token_f1"],
        show_progress=False,
    )

    def records(folder):
        _, found = load_run(folder)
        return sorted(
            ({k: v for k, v in r.items() if k != "cost"} for r in found),
            key=lambda r: (r["example"], r["method"]),
        )

    assert len(records(tmp_path / "two")) == 24 * 3
    assert records(tmp_path / "two") == records(single)


@pytest.mark.parametrize("extra", [["--jobs", "2"], ["--dry-run"]])
def test_jobs_and_dry_runs_are_for_one_process(tmp_path, tiny_model_dir, extra):
    args = ["benchmark", "--model", str(tiny_model_dir), "--dataset", "sst2"]
    code, output = finished(torchrun(2, args + ["--out", str(tmp_path), *extra]))
    assert code != 0 and "are for one process" in output
