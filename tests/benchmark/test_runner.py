import json

import pytest
from benchmark_toys import make_examples, make_tokenizer, split_settings

from captum_nlp_ext.benchmark import store as store_module
from captum_nlp_ext.benchmark.runner import run_benchmark
from captum_nlp_ext.benchmark.store import load_run, RESULTS_FILE, RunStore

METHODS = ["nlgp", "lime", "lig", "random"]
N, BATCH = 10, 3  # 4 batches, the last one short


@pytest.fixture(scope="module")
def examples():
    return make_examples(N, seed=5)


def run(folder, model, tokenizer, examples, **kwargs):
    settings = dict(
        tokenizer=tokenizer,
        methods=METHODS,
        budget=16,
        batch_size=BATCH,
        show_progress=False,
    )
    settings.update(kwargs)
    source, run_settings, rest = split_settings(examples, settings)
    return run_benchmark(model, source, folder, run_settings, **rest)


def without_cost(records):
    """(example, method) -> record without its timing; fails on duplicates."""
    keyed = {}
    for r in records:
        key = (r["example"], r["method"])
        assert key not in keyed, f"duplicate {key}"
        keyed[key] = {k: v for k, v in r.items() if k != "cost"}
    return keyed


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model, tiny_tokenizer, examples):
    folder = run(tmp_path_factory.mktemp("full"), tiny_model, tiny_tokenizer, examples)
    return folder, without_cost(load_run(folder)[1])


def test_run_folder_follows_the_schema(reference):
    folder, results = reference
    settings, records = load_run(folder)
    assert settings["schema"] == 1 and settings["n"] == N
    assert settings["methods"] == METHODS and settings["budget"] == 16
    assert set(settings["method_settings"]) == set(METHODS)
    assert settings["method_settings"]["nlgp"]["settings"]["budget_rule"]
    assert settings["metrics"] == [
        "comprehensiveness",
        "sufficiency",
        "log_odds",
        "delta_accuracy",
        "deletion_auc",
        "insertion_auc",
        "auprc",
        "token_f1",
        "iou_f1",
    ]
    k = settings["metric_settings"]["token_f1"]["settings"]
    assert k["k"] is None and "own rationale length" in k["k_source"]
    assert set(results) == {(e, m) for e in range(N) for m in METHODS}
    record = records[0]
    assert len(record["words"]) == len(record["scores"]) == len(record["rationale"])
    assert set(record["metrics"]) == set(settings["metrics"])
    curves = record["curves"]
    assert curves["percents"] == [float(p) for p in range(0, 101, 10)]
    assert len(curves["deletion"]) == len(curves["insertion"]) == 11
    assert record["cost"]["forward_rows"] > 0 and record["cost"]["seconds"] > 0
    # NLGP's convergence estimate is kept with each of its records, and only its
    for r in records:
        if r["method"] == "nlgp":
            assert 0.0 <= r["convergence"] <= 1.0
        else:
            assert "convergence" not in r


def test_results_do_not_depend_on_the_batch(
    reference, tmp_path, tiny_model, tiny_tokenizer, examples
):
    _, results = reference
    folder = run(tmp_path, tiny_model, tiny_tokenizer, examples, batch_size=4)
    other = without_cost(load_run(folder)[1])
    assert set(other) == set(results)
    for key, record in results.items():
        assert other[key]["words"] == record["words"]
        for name, value in record["metrics"].items():
            got = other[key]["metrics"][name]
            # None: the metric is undefined for the example (in both runs).
            if value is None or got is None:
                assert got is value, (key, name)
            else:
                assert got == pytest.approx(value, rel=1e-4, abs=1e-6), (key, name)


class Killed(Exception):
    pass


@pytest.mark.parametrize("writes", [0, 1, 5, 11])
def test_a_killed_run_resumes_with_nothing_lost_or_duplicated(
    reference, tmp_path, monkeypatch, tiny_model, tiny_tokenizer, examples, writes
):
    _, results = reference
    original = RunStore.append
    calls = []

    def append_then_die(self, records):
        if len(calls) == writes:
            raise Killed()
        calls.append(1)
        original(self, records)

    monkeypatch.setattr(store_module.RunStore, "append", append_then_die)
    with pytest.raises(Killed):
        run(tmp_path, tiny_model, tiny_tokenizer, examples)
    monkeypatch.setattr(store_module.RunStore, "append", original)
    lines = (tmp_path / RESULTS_FILE).read_text().splitlines()
    assert len(lines) == sum(
        min(BATCH, N - BATCH * (i // len(METHODS))) for i in range(writes)
    )
    run(tmp_path, tiny_model, tiny_tokenizer, examples)
    assert without_cost(load_run(tmp_path)[1]) == results


@pytest.mark.parametrize("cut", [1, 40, 400])
def test_a_torn_last_line_is_dropped_and_recomputed(
    reference, tmp_path, tiny_model, tiny_tokenizer, examples, cut
):
    folder, results = reference
    for name in ("run.json", RESULTS_FILE):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    data = (tmp_path / RESULTS_FILE).read_bytes()
    # drop the last (batch, method) write but a torn piece of its first line
    last_write = data.rstrip(b"\n").rsplit(b"\n", 2)[0] + b"\n"
    kept = len(last_write.splitlines())
    torn = data[len(last_write) : len(last_write) + cut]
    (tmp_path / RESULTS_FILE).write_bytes(last_write + torn)
    _, partial = load_run(tmp_path)
    assert len(partial) == kept
    run(tmp_path, tiny_model, tiny_tokenizer, examples)
    assert without_cost(load_run(tmp_path)[1]) == results
    # the file holds whole lines only
    assert all(json.loads(line) for line in (tmp_path / RESULTS_FILE).open())


def test_other_settings_are_refused_unless_overwritten(
    reference, tmp_path, tiny_model, tiny_tokenizer, examples
):
    folder, _ = reference
    (tmp_path / "run.json").write_bytes((folder / "run.json").read_bytes())
    (tmp_path / RESULTS_FILE).write_bytes((folder / RESULTS_FILE).read_bytes())
    with pytest.raises(ValueError, match="budget: 16 in the folder, 8 now") as error:
        run(tmp_path, tiny_model, tiny_tokenizer, examples, budget=8, seed=2)
    assert "seed" in str(error.value) and "overwrite" in str(error.value)
    run(
        tmp_path,
        tiny_model,
        tiny_tokenizer,
        examples,
        methods=["random"],
        budget=8,
        overwrite=True,
    )
    settings, records = load_run(tmp_path)
    assert settings["budget"] == 8 and {r["method"] for r in records} == {"random"}
    assert len(records) == N


def test_metrics_must_match_the_gold(tmp_path, tiny_model, tiny_tokenizer, examples):
    with pytest.raises(ValueError, match="need gold .*word_scores"):
        run(
            tmp_path,
            tiny_model,
            tiny_tokenizer,
            examples,
            metrics=["word_score_correlation"],
        )
    with pytest.raises(ValueError, match="unknown names \\['nope'\\]"):
        run(tmp_path, tiny_model, tiny_tokenizer, examples, metrics=["nope"])
    with pytest.raises(ValueError, match="`dataset` must be a data set name"):
        run_benchmark(tiny_model, "nope", tmp_path, tokenizer=tiny_tokenizer)


def test_long_documents_run_through_windows(tmp_path, tiny_model, tiny_tokenizer):
    long = make_examples(30, seed=6)
    documents = [
        type(e)(
            words=sum((list(x.words) for x in long[i : i + 6]), []),
            label=e.label,
            example_id=f"doc-{i}",
        )
        for i, e in enumerate(long[::6])
    ]
    folder = run(
        tmp_path,
        tiny_model,
        tiny_tokenizer,
        documents,
        methods=["occlusion", "marc", "random"],
        method_options={"marc": {"max_steps": 3}},
        window=12,
        window_overlap=4,
    )
    settings, records = load_run(folder)
    assert settings["window"] == {"size": 12, "overlap": 4}
    assert len(records) == 3 * len(documents)
    # whole documents, not truncated to max_length
    by_example = {r["example"]: r for r in records if r["method"] == "occlusion"}
    assert [len(by_example[i]["words"]) for i in range(len(documents))] == [
        len(d.words) for d in documents
    ]
    cut = run(
        tmp_path / "cut",
        tiny_model,
        tiny_tokenizer,
        documents,
        methods=["occlusion"],
        window=12,
        window_overlap=4,
        max_length=16,
    )
    settings, records = load_run(cut)
    assert settings["max_length"] == 16
    # [CLS] and [SEP] and at most 14 words' tokens, through windows of 12
    assert all(len(r["words"]) <= 14 for r in records)
    assert all(len(r["words"]) < len(documents[r["example"]].words) for r in records)
    with pytest.raises(ValueError, match="methods \\['lafa'\\] need inputs within"):
        run(
            tmp_path, tiny_model, tiny_tokenizer, documents, methods=["lafa"], window=12
        )


def test_windows_do_not_warn_that_long_documents_will_fail(
    tmp_path, tiny_model, transformers_messages
):
    # A fresh tokenizer (it warns once per instance) with a model_max_length
    # the document passes.
    tokenizer = make_tokenizer()
    tokenizer.model_max_length = 16
    long = make_examples(12, seed=6)
    document = type(long[0])(
        words=sum((list(e.words) for e in long), []), label=1, example_id="doc"
    )
    run(
        tmp_path,
        tiny_model,
        tokenizer,
        [document],
        methods=["saliency"],
        window=12,
        window_overlap=4,
    )
    assert transformers_messages == []
    # The same tokenizer warns when the caller asks nothing.
    tokenizer(list(document.words), is_split_into_words=True)
    assert len(transformers_messages) == 1
    assert "Token indices sequence length" in transformers_messages[0]


def test_jobs_give_the_records_of_one_process(tmp_path, tiny_model, tiny_tokenizer):
    # A model folder: this process and the workers load the same model.
    tiny_model.save_pretrained(str(tmp_path / "model"))
    tiny_tokenizer.save_pretrained(str(tmp_path / "model"))
    model, tokenizer = str(tmp_path / "model"), None
    examples = make_examples(8, seed=7)
    pool = [" ".join(e.words) for e in make_examples(12, seed=2)]
    options = dict(
        methods=["nlgp", "lime", "lafa", "marc", "random"],
        method_options={"lafa": {"n_samples": 2}, "marc": {"max_steps": 6}},
        reference_texts=pool,
    )
    one = run(tmp_path / "one", model, tokenizer, examples, **options)
    two = run(tmp_path / "two", model, tokenizer, examples, jobs=2, **options)
    assert without_cost(load_run(two)[1]) == without_cost(load_run(one)[1])
    # A module is saved in the run's cache for the workers.
    three = run(
        tmp_path / "three", tiny_model, tiny_tokenizer, examples, jobs=2, **options
    )
    assert any(p.name.startswith("model-") for p in (three / "cache").iterdir())
    assert len(load_run(three)[1]) == 8 * 5
    # Resumed by one process: nothing is missing, nothing is added.
    again = run(tmp_path / "two", model, tokenizer, examples, **options)
    assert len(load_run(again)[1]) == 8 * 5


def test_dry_run_plans_without_results(tmp_path, tiny_model, tiny_tokenizer, examples):
    folder = run(tmp_path, tiny_model, tiny_tokenizer, examples, dry_run=True)
    plan = (folder / "plan.txt").read_text()
    for name in METHODS:
        assert name in plan
    assert "total" in plan and "calibration: 3 examples" in plan
    assert load_run(folder)[1] == []
    # The run itself then starts from nothing.
    run(tmp_path, tiny_model, tiny_tokenizer, examples)
    assert len(load_run(folder)[1]) == N * len(METHODS)
