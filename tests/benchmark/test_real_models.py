"""Smoke test on the real MiniLM SST-2 classifier (skipped without
../shared/models): every registered method x the default metrics."""

import math

from captum_nlp_ext.benchmark.runner import run_benchmark
from captum_nlp_ext.benchmark.store import load_run
from captum_nlp_ext.engine.methods import METHODS
from captum_nlp_ext.engine.settings import DataSource, RunSettings

# Every method that explains any classifier (vmask needs a model trained with its
# layer, refused for this one; tests/attr/test_vmask.py covers it).
POST_HOC = [name for name, spec in METHODS.items() if spec.check_model is None]


def test_four_sst2_sentences_with_every_method(models_dir, data_dir, tmp_path):
    settings = RunSettings(
        methods=tuple(POST_HOC),
        budget=16,
        batch_size=4,
        mlm=models_dir / "minilm-mlm",
        reference_pool=50,
        # fewer steps and samples than the defaults: a smoke test, not a study
        method_options={
            "marc": {"max_steps": 20},
            "lig": {"n_steps": 8},
            "lafa": {"n_samples": 3},
        },
    )
    folder = run_benchmark(
        models_dir / "minilm-sst2",
        DataSource("sst2", n=4, data_dir=data_dir),
        tmp_path,
        settings,
        show_progress=False,
    )
    settings, records = load_run(folder)
    assert len(records) == 4 * len(POST_HOC)
    assert "the first 50 of sst2 train" in str(settings["method_settings"]["lafa"])
    for record in records:
        assert len(record["scores"]) == len(record["words"])
        assert all(s is not None and math.isfinite(s) for s in record["scores"])
        metrics = record["metrics"]
        assert set(metrics) == set(settings["metrics"])
        assert -1 <= metrics["comprehensiveness"] <= 1
        assert 0 <= metrics["deletion_auc"] <= 1 and 0 <= metrics["insertion_auc"] <= 1
    first = [r for r in records if r["example"] == 0][0]
    assert first["words"][:3] == ["it", "'s", "a"] and first["label"] == 1


def test_eraser_k_counts_the_rationale_words_a_truncated_review_keeps(
    models_dir, data_dir
):
    from transformers import AutoTokenizer

    from captum_nlp_ext.benchmark._data import RunData

    tokenizer = AutoTokenizer.from_pretrained(models_dir / "minilm-sst2")
    data = RunData.load(DataSource("movies", split="val", n=1, data_dir=data_dir))
    whole, whole_source = data.rationale_k(["token_f1"], tokenizer, None)
    cut, cut_source = data.rationale_k(["token_f1"], tokenizer, 128)
    assert "truncated to 128 tokens" in cut_source and "truncated" not in whole_source
    # ERASER movie reviews hold ~800 tokens: the first 128 keep a fraction of
    # the human rationale.
    assert 1 <= cut < whole / 2
