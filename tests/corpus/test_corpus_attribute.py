"""captum-nlp attribute in one process: Parquet rows, their schema and
metadata, the benchmark's scores, resuming, failures and bad rows."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from benchmark_toys import split_settings

from captum_nlp_ext.benchmark.runner import run_benchmark
from captum_nlp_ext.benchmark.store import load_run
from captum_nlp_ext.corpus import (
    attribute_corpus,
    COLUMNS,
    read_attributions,
    read_metadata,
)
from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.engine.settings import DataSource, RunSettings
from captum_nlp_ext.testing import NaNClassifier

FIELDS = {"label_field": "label", "rationale_field": "rationale", "id_field": "id"}
METHODS = ["nlgp", "lig", "random"]


def attribute(model, data, out, **kwargs):
    settings = dict(methods=METHODS, budget=16, shard_size=4, show_progress=False)
    source, run_settings, rest = split_settings(data, {**settings, **kwargs})
    return attribute_corpus(model, source, out, run_settings, **rest)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_dir, toy_jsonl):
    out = tmp_path_factory.mktemp("attribute") / "run"
    attribute(tiny_model_dir, toy_jsonl, out, fields=FIELDS, n=10)
    return out


def test_one_row_per_example_and_method_readable_with_pandas(run, toy_jsonl):
    frame = pd.read_parquet(run / "shards")
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 10 * len(METHODS)
    assert frame.groupby("example")["method"].apply(list).tolist() == [METHODS] * 10
    lines = [json.loads(line) for line in toy_jsonl.read_text().splitlines()]
    for row in frame.itertuples():
        source = lines[row.example]
        assert row.example_id == source["id"] and row.label == source["label"]
        assert list(row.words) == source["text"].split()
        assert len(row.word_scores) == len(row.words)
        assert len(row.token_scores) == len(row.tokens)
        assert row.tokens[0] == "[CLS]" and row.tokens[-1] == "[SEP]"
        assert row.word_scores.dtype == np.float16
        assert 0.5 <= row.probability <= 1 and pd.isna(row.failed)
    assert read_attributions(run).equals(frame)


def test_the_schema_and_the_settings_in_the_metadata(run, tiny_model_dir):
    schema = pq.read_schema(sorted((run / "shards").iterdir())[0])
    assert str(schema.field("token_scores").type) == "list<element: halffloat>"
    assert str(schema.field("example").type) == "int64"
    meta = read_metadata(run)
    assert meta["schema"] == 1 and meta["methods"] == METHODS
    assert meta["model"] == tiny_model_dir.name and meta["n"] == 10
    assert meta["score_dtype"] == "float16" and meta["seed"] == 0
    assert meta["method_settings"]["nlgp"]["settings"]["budget_rule"]
    assert meta["fields"]["rationale_field"] == "rationale"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["summary"]["examples"] == 10
    assert manifest["summary"]["shards"] == 3


def test_word_scores_are_the_benchmarks(tmp_path, tiny_model_dir, toy_jsonl):
    out = tmp_path / "f32"
    attribute(tiny_model_dir, toy_jsonl, out, n=8, score_dtype="float32")
    frame = read_attributions(out)
    assert frame["word_scores"][0].dtype == np.float32
    bench = run_benchmark(
        tiny_model_dir,
        DataSource(toy_jsonl, n=8),
        tmp_path / "bench",
        RunSettings(methods=tuple(METHODS), budget=16),
        metrics=["comprehensiveness"],
        show_progress=False,
    )
    _, records = load_run(bench)
    for record in records:
        row = frame[
            (frame.example == record["example"]) & (frame.method == record["method"])
        ].iloc[0]
        assert list(row.words) == record["words"]
        np.testing.assert_allclose(row.word_scores, record["scores"], atol=1e-6)


def test_each_example_draws_its_own_seed(tmp_path, tiny_model_dir):
    twice = [TextExample(("good", "film", "and", "fun"), 1, str(i)) for i in range(2)]
    frame = read_attributions(
        attribute(tiny_model_dir, twice, tmp_path / "twice", methods=["nlgp"]).run_dir
    )
    first, second = frame.word_scores
    assert not np.array_equal(first, second)  # same text, other example number
    again = read_attributions(
        attribute(tiny_model_dir, twice, tmp_path / "again", methods=["nlgp"]).run_dir
    )
    assert np.array_equal(again.word_scores[1], second)


def test_a_resumed_run_explains_only_what_is_missing(tmp_path, run, tiny_model_dir):
    copy = tmp_path / "copy"
    (copy / "shards").mkdir(parents=True)
    for path in (run / "shards").iterdir():
        if path.name != "part-000001.parquet":
            (copy / "shards" / path.name).write_bytes(path.read_bytes())
    (copy / "manifest.json").write_bytes((run / "manifest.json").read_bytes())
    # A shard a killed process was writing is left as a temporary file.
    (copy / "shards" / "part-000001.parquet.tmp").write_bytes(b"torn")
    toy = run.parent.parent
    data = next(toy.glob("corpus*/toy.jsonl"))
    resumed = attribute(tiny_model_dir, data, copy, fields=FIELDS, n=10)
    assert resumed.explained == 4 and resumed.examples == 10
    assert read_attributions(copy).equals(read_attributions(run))
    assert not list((copy / "shards").glob("*.tmp"))
    # Without a shard size the resumed run's is kept, not a default recomputed.
    kept = attribute(tiny_model_dir, data, copy, fields=FIELDS, n=10, shard_size=None)
    assert kept.explained == 0
    with pytest.raises(ValueError, match="other settings .*budget: 16 in the folder"):
        attribute(tiny_model_dir, data, copy, fields=FIELDS, n=10, budget=8)


def test_failures_and_bad_rows_are_recorded_once(tmp_path, tiny_model, tiny_tokenizer):
    poison = tiny_tokenizer.convert_tokens_to_ids("awful")
    broken = NaNClassifier(tiny_model, poison)
    path = tmp_path / "mixed.jsonl"
    texts = ["a good film", "an awful plot", "", "fun and long"]
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    with pytest.raises(ValueError, match="mixed.jsonl, line 3: the field 'text'"):
        attribute(broken, path, tmp_path / "stop", tokenizer=tiny_tokenizer)
    done = attribute(
        broken, path, tmp_path / "skip", tokenizer=tiny_tokenizer, skip_bad_rows=True
    )
    assert done.failed == 2 and done.examples == 4
    frame = read_attributions(done.run_dir)
    failed = frame[frame.failed.notna()]
    assert sorted(set(failed.example)) == [1, 2]
    assert failed[failed.example == 1].failed.str.contains("NaN").all()
    assert failed[failed.example == 2].failed.str.contains("'text'").all()
    assert frame[frame.example == 0].failed.isna().all()
    again = attribute(
        broken, path, tmp_path / "skip", tokenizer=tiny_tokenizer, skip_bad_rows=True
    )
    assert again.explained == 0  # nothing retried


def test_arguments_are_checked_at_the_door(tmp_path, tiny_model_dir, toy_jsonl):
    for kwargs, message in [
        ({"shard_size": 0}, "`shard_size` must be >= 1"),
        ({"score_dtype": "float64"}, "`score_dtype` must be one of"),
        ({"methods": ["nlgp", "nope"]}, "unknown names \\['nope'\\]"),
        ({"fields": {"text": "x"}}, "`fields` has unknown names"),
        ({"fields": {"label_field": "stars"}}, "`label_field`: .* no field 'stars'"),
    ]:
        with pytest.raises(ValueError, match=message):
            attribute(tiny_model_dir, toy_jsonl, tmp_path / "x", **kwargs)
    with pytest.raises(ValueError, match="a data set name .* got 'sst3'"):
        attribute(tiny_model_dir, "sst3", tmp_path / "x")
    assert not torch.distributed.is_initialized()


def test_the_shards_load_with_datasets(run, tmp_path):
    import datasets

    loaded = datasets.load_dataset(
        "parquet",
        data_files=str(run / "shards" / "*.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert loaded.num_rows == 10 * len(METHODS)
    assert loaded.features["method"].dtype == "string"
    assert loaded[0]["words"] == read_attributions(run).words[0].tolist()
