"""Nothing lost, nothing silently wrong: one writer per run folder, caches
keyed by what built them, failed examples recorded, and results that depend
only on the example, its settings and the seed."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from benchmark_toys import make_examples, split_settings

from captum_nlp_ext.attr import VMaskClassifier
from captum_nlp_ext.benchmark.report import write_report
from captum_nlp_ext.benchmark.runner import run_benchmark
from captum_nlp_ext.benchmark.store import load_run, RunLockedError, RunStore
from captum_nlp_ext.engine.methods import METHODS
from captum_nlp_ext.engine.settings import DataSource, RunSettings
from captum_nlp_ext.testing import NaNClassifier


def run(folder, model, tokenizer, examples, **kwargs):
    settings = dict(tokenizer=tokenizer, budget=8, batch_size=3, show_progress=False)
    settings.update(kwargs)
    source, run_settings, rest = split_settings(examples, settings)
    return run_benchmark(model, source, folder, run_settings, **rest)


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    with RunStore(tmp_path, {"schema": 1}):
        with pytest.raises(RunLockedError, match=f"process {os.getpid()}"):
            RunStore(tmp_path, {"schema": 1})
    # released on close: the next run opens it
    with RunStore(tmp_path, {"schema": 1}) as store:
        assert store.done == set()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from captum_nlp_ext.benchmark.store import RunStore
        store = RunStore({str(tmp_path)!r}, {{"schema": 1}})
        print("locked", flush=True)
        time.sleep(60)
        """)
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"process {child.pid}"):
            RunStore(tmp_path, {"schema": 1})
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
    with RunStore(tmp_path, {"schema": 1}) as store:
        assert (tmp_path / "run.pid").read_text().strip() == str(os.getpid())
        assert store.done == set()


def test_the_reference_index_cache_is_keyed_by_its_pool_and_cleared_by_overwrite(
    tmp_path, tiny_model, tiny_tokenizer
):
    examples = make_examples(4, seed=1)
    pool_a = [" ".join(e.words) for e in make_examples(12, seed=2)]
    pool_b = [" ".join(e.words) for e in make_examples(12, seed=3)]
    options = dict(methods=["lafa"], method_options={"lafa": {"n_samples": 2}})
    run(
        tmp_path,
        tiny_model,
        tiny_tokenizer,
        examples,
        reference_texts=pool_a,
        **options,
    )
    first = sorted((tmp_path / "cache").iterdir())
    assert len(first) == 1 and first[0].name.startswith("reference_index-")
    # a new pool with --overwrite: the old index is gone, the new one is built
    run(
        tmp_path,
        tiny_model,
        tiny_tokenizer,
        examples,
        reference_texts=pool_b,
        overwrite=True,
        **options,
    )
    second = sorted((tmp_path / "cache").iterdir())
    assert len(second) == 1 and second[0].name != first[0].name


def test_lafa_keeps_its_neighbours_scores_in_the_cached_index(
    tmp_path, tiny_model, tiny_tokenizer
):
    from captum_nlp_ext.attr import ReferenceIndex

    examples = make_examples(6, seed=1)
    pool = [" ".join(e.words) for e in make_examples(12, seed=2)]
    options = dict(methods=["lafa"], method_options={"lafa": {"n_samples": 2}})
    run(tmp_path, tiny_model, tiny_tokenizer, examples, reference_texts=pool, **options)
    (path,) = (tmp_path / "cache").iterdir()
    index = ReferenceIndex.load(str(path), tiny_model)
    (setting,) = index.score_tables
    assert "seed=0" in setting and "n_samples=2" in setting
    assert "forward=ClassifierForward(output=logits)" in setting
    assert len(index.score_tables[setting]) > 0


def test_the_diffmask_probe_is_fitted_once_per_run_and_reused_on_resume(
    tmp_path, tiny_model, tiny_tokenizer, monkeypatch
):
    import captum_nlp_ext.engine.resources as resources

    examples = make_examples(4, seed=1)
    pool = [" ".join(e.words) for e in make_examples(12, seed=2)]
    fits = []
    original = resources.fit_probe

    def counting(*args, **kwargs):
        fits.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(resources, "fit_probe", counting)
    options = dict(methods=["diffmask"], reference_texts=pool)
    run(tmp_path, tiny_model, tiny_tokenizer, examples, **options)
    probes = sorted((tmp_path / "cache").iterdir())
    assert len(fits) == 1 and probes[0].name.startswith("diffmask-")
    # resumed: the cached probe is loaded, not fitted again
    folder = run(tmp_path, tiny_model, tiny_tokenizer, examples, **options)
    assert len(fits) == 1 and len(load_run(folder)[1]) == 4
    settings = load_run(folder)[0]["method_settings"]["diffmask"]["settings"]
    assert settings["fit_texts"] == "12 given texts" and settings["fit_epochs"] == 3
    # another fit setting is another probe (and another run: --overwrite)
    run(
        tmp_path,
        tiny_model,
        tiny_tokenizer,
        examples,
        overwrite=True,
        method_options={"diffmask": {"fit_epochs": 1}},
        **options,
    )
    assert len(fits) == 2
    assert sorted((tmp_path / "cache").iterdir())[0].name != probes[0].name


def test_a_nan_example_is_recorded_as_failed_and_the_run_goes_on(
    tmp_path, tiny_model, tiny_tokenizer
):
    examples = make_examples(6, seed=5)
    poison_word = "awful"
    examples[4] = type(examples[4])(
        words=["a", poison_word, "film"], label=0, example_id="poisoned"
    )
    poison = tiny_tokenizer.convert_tokens_to_ids(poison_word)
    clean = [i for i, e in enumerate(examples) if poison_word not in e.words]
    model = NaNClassifier(tiny_model, poison).eval()
    methods = ["nlgp", "lig", "occlusion", "random"]
    folder = run(tmp_path, model, tiny_tokenizer, examples, methods=methods)
    settings, records = load_run(folder)
    failed = [r for r in records if "failed" in r]
    assert {r["example"] for r in failed} == set(range(6)) - set(clean)
    assert {r["method"] for r in failed} == set(methods)
    assert all("NaN or infinite" in r["failed"] for r in failed)
    done = [r for r in records if "failed" not in r]
    assert {r["example"] for r in done} == set(clean)
    # a resumed run does not retry the failures
    before = (folder / "results.jsonl").read_text()
    run(tmp_path, model, tiny_tokenizer, examples, methods=methods)
    assert (folder / "results.jsonl").read_text() == before
    # the clean examples got the results they get without the broken one
    alone = run(
        tmp_path / "clean",
        tiny_model,
        tiny_tokenizer,
        [examples[i] for i in clean],
        methods=methods,
    )
    reference = {
        (clean[r["example"]], r["method"]): r["scores"] for r in load_run(alone)[1]
    }
    for r in done:
        if r["method"] == "random":  # seeded by the example's index, which moved
            continue
        assert r["scores"] == pytest.approx(
            reference[(r["example"], r["method"])], abs=1e-5
        ), r["method"]
    page = write_report(folder).read_text()
    assert f"{len(failed)} explanation(s) failed" in page and "NaN or infinite" in page


def test_every_method_result_depends_only_on_the_example_settings_and_seed(
    tmp_path, tiny_model, tiny_tokenizer, tiny_mlm
):
    """Through the runner: another --n, another batch size and other methods
    beside it leave each example's scores unchanged. The model has a VMASK
    layer, so that every method runs (it is an ordinary classifier to the
    others)."""
    tiny_model = VMaskClassifier(tiny_model, tiny_tokenizer)
    examples = make_examples(9, seed=7)
    pool = [" ".join(e.words) for e in make_examples(20, seed=8)]
    names = sorted(METHODS)
    common = dict(mlm=tiny_mlm, reference_texts=pool, metrics=["comprehensiveness"])
    full = run(
        tmp_path / "a", tiny_model, tiny_tokenizer, examples, methods=names, **common
    )
    expected = {(r["example"], r["method"]): r["scores"] for r in load_run(full)[1]}
    # the first 6 examples only, batches of 4, each method alone
    for name in names:
        part = run(
            tmp_path / name,
            tiny_model,
            tiny_tokenizer,
            examples,
            methods=[name],
            n=6,
            batch_size=4,
            **common,
        )
        for r in load_run(part)[1]:
            want = expected[(r["example"], name)]
            # relative to the example's scale: some methods' scores are ~1e-6
            scale = max(abs(v) for v in want) or 1.0
            assert r["scores"] == pytest.approx(want, rel=1e-3, abs=1e-4 * scale), (
                name,
                r["example"],
            )


def test_run_json_names_the_classes(tmp_path, tiny_model, tiny_tokenizer):
    tiny_model.config.id2label = {0: "negative", 1: "positive"}
    try:
        folder = run(
            tmp_path, tiny_model, tiny_tokenizer, make_examples(3), methods=["random"]
        )
    finally:
        tiny_model.config.id2label = {0: "LABEL_0", 1: "LABEL_1"}
    settings = json.loads((folder / "run.json").read_text())
    assert settings["classes"] == ["negative", "positive"]
    page = write_report(folder).read_text()
    assert "predicted negative" in page or "predicted positive" in page


def test_cut_examples_are_reported_and_lengths_past_the_model_refused(
    tmp_path, tiny_model, tiny_tokenizer, caplog
):
    examples = make_examples(4, seed=2)
    with caplog.at_level("WARNING", logger="captum_nlp_ext"):
        run(
            tmp_path,
            tiny_model,
            tiny_tokenizer,
            examples,
            methods=["random"],
            max_length=6,
        )
    assert "examples are longer than `max_length` (6 tokens" in caplog.text
    with pytest.raises(ValueError, match="`max_length` 100 is past the model's 64"):
        run(tmp_path / "b", tiny_model, tiny_tokenizer, examples, max_length=100)


def test_a_bug_in_a_method_ends_the_run_not_recorded_as_a_failed_example(
    tmp_path, tiny_model, tiny_tokenizer, tiny_model_dir, toy_jsonl
):
    # One failure policy for the benchmark and the corpus: an example the
    # model cannot handle is recorded; an exception of any other kind is a bug.
    from captum_nlp_ext.corpus import attribute_corpus
    from captum_nlp_ext.engine.methods import MethodSpec, register_method

    def broken(ctx, settings):
        raise RuntimeError("a bug in the method")

    register_method("broken", MethodSpec(broken, "a bug", "baseline", "random", {}))
    try:
        with pytest.raises(RuntimeError, match="a bug in the method"):
            run(
                tmp_path / "b",
                tiny_model,
                tiny_tokenizer,
                make_examples(3),
                methods=["broken"],
            )
        with pytest.raises(RuntimeError, match="a bug in the method"):
            attribute_corpus(
                tiny_model_dir,
                DataSource(toy_jsonl, n=3),
                tmp_path / "c",
                RunSettings(methods=("broken",)),
                show_progress=False,
            )
    finally:
        del METHODS["broken"]
    assert not list((tmp_path / "c" / "shards").glob("*.parquet"))
