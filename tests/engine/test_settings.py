"""RunSettings and DataSource: checked once when made, shared by every entry
point; the 0.2 keywords keep working for one release."""

import dataclasses

import pytest
from benchmark_toys import make_examples

from captum_nlp_ext.benchmark.runner import run_benchmark
from captum_nlp_ext.benchmark.store import load_run
from captum_nlp_ext.engine.settings import DataSource, RunSettings
from captum_nlp_ext.explain import explain_texts


@pytest.mark.parametrize(
    "given, error, match",
    [
        ({"budget": 0}, ValueError, "`budget` must be >= 1"),
        ({"methods": ("nlgp",), "budget": 1}, ValueError, "`budget` must be >= 2"),
        ({"batch_size": 1.5}, TypeError, "`batch_size` must be an int"),
        ({"seed": -1}, ValueError, "`seed` must be >= 0"),
        ({"max_length": 1}, ValueError, "`max_length` must be >= 2"),
        ({"internal_batch_size": 0}, ValueError, "`internal_batch_size`"),
        ({"reference_pool": 0}, ValueError, "`reference_pool`"),
        ({"window": 1}, ValueError, "`window` must be >= 2"),
        ({"window_overlap": -1}, ValueError, "`window_overlap`"),
        ({"methods": "nlgp"}, TypeError, "the string 'nlgp'"),
        ({"methods": ()}, ValueError, "`methods` is empty"),
        ({"methods": ("nope",)}, ValueError, "unknown names \\['nope'\\]"),
        ({"method_options": {"nlgp": {}}}, ValueError, "needs `methods`"),
        (
            {"methods": ("lig",), "method_options": {"nlgp": {}}},
            ValueError,
            "not in the run",
        ),
        (
            {"methods": ("lig",), "method_options": {"lig": {"steps": 3}}},
            ValueError,
            "unknown settings \\['steps'\\]",
        ),
        ({"methods": ("lafa",), "window": 64}, ValueError, "through windows"),
        ({"mlm": 3}, TypeError, "`mlm`"),
        ({"reference_texts": "one text"}, TypeError, "`reference_texts`"),
    ],
)
def test_run_settings_refuse_bad_values_naming_them(given, error, match):
    with pytest.raises(error, match=match):
        RunSettings(**given)


def test_run_settings_are_immutable_and_normalised():
    settings = RunSettings(methods=["nlgp", "lig"], reference_texts=["a", "b"])
    assert settings.methods == ("nlgp", "lig")
    assert settings.reference_texts == ("a", "b")
    # every method gets its (empty) overrides: nothing is looked up twice
    assert settings.method_options == {"nlgp": {}, "lig": {}}
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.budget = 3  # type: ignore[misc]
    assert RunSettings().with_default_methods(("lig",)).methods == ("lig",)
    assert settings.with_default_methods(("lig",)) is settings


def test_for_model_resolves_max_length_and_checks_the_methods(tiny_model):
    positions = tiny_model.config.max_position_embeddings
    assert RunSettings(methods=("lig",)).for_model(tiny_model).max_length == min(
        128, positions
    )
    with pytest.raises(ValueError, match="`max_length`"):
        RunSettings(methods=("lig",), max_length=positions + 1).for_model(tiny_model)
    with pytest.raises(ValueError, match="method 'vmask'"):
        RunSettings(methods=("vmask",)).for_model(tiny_model)


@pytest.mark.parametrize(
    "given, error, match",
    [
        ({"dataset": 3}, TypeError, "`dataset` must be"),
        ({"dataset": [1, 2]}, TypeError, "TextExample"),
        ({"dataset": "sst2", "n": 0}, ValueError, "`n` must be >= 1"),
        ({"dataset": "sst2", "split": 1}, TypeError, "`split`"),
        ({"dataset": "sst2", "fields": {"text_field": "t"}}, ValueError, "files"),
        ({"dataset": "a.jsonl", "fields": {"txt": "t"}}, ValueError, "unknown names"),
        ({"dataset": "a.jsonl", "skip_bad_rows": 1}, TypeError, "skip_bad_rows"),
    ],
)
def test_data_source_refuses_bad_values_naming_them(given, error, match):
    with pytest.raises(error, match=match):
        DataSource(**given)


def test_the_old_keywords_run_the_same_benchmark_with_a_warning(
    tmp_path, tiny_model, tiny_tokenizer
):
    examples = make_examples(4, seed=2)
    new = run_benchmark(
        tiny_model,
        DataSource(examples, n=3),
        tmp_path / "new",
        RunSettings(methods=("random", "occlusion"), budget=8, batch_size=2),
        tokenizer=tiny_tokenizer,
        show_progress=False,
    )
    with pytest.warns(FutureWarning) as warned:
        old = run_benchmark(
            tiny_model,
            examples,
            tmp_path / "old",
            tokenizer=tiny_tokenizer,
            methods=["random", "occlusion"],
            budget=8,
            batch_size=2,
            n=3,
            show_progress=False,
        )
    messages = " ".join(str(w.message) for w in warned)
    assert "settings=RunSettings" in messages and "DataSource(n=...)" in messages
    new_settings, new_records = load_run(new)
    old_settings, old_records = load_run(old)
    for key in ("methods", "budget", "batch_size", "n", "method_settings"):
        assert new_settings[key] == old_settings[key]

    def scores(records):
        return {(r["example"], r["method"]): r["scores"] for r in records}

    assert scores(new_records) == scores(old_records) and len(new_records) == 6
    with pytest.raises(TypeError, match="must be a RunSettings"):
        run_benchmark(tiny_model, examples, tmp_path / "x", {"budget": 8})
    with pytest.raises(TypeError, match="not both"):
        run_benchmark(
            tiny_model,
            examples,
            tmp_path / "both",
            RunSettings(),
            tokenizer=tiny_tokenizer,
            budget=8,
        )


def test_explain_texts_takes_the_settings_and_its_old_positional_methods(
    tiny_model, tiny_tokenizer
):
    texts = ["good film", "a dull plot"]
    new = explain_texts(
        tiny_model, tiny_tokenizer, texts, RunSettings(methods=("occlusion",))
    )
    with pytest.warns(FutureWarning, match="methods"):
        old = explain_texts(tiny_model, tiny_tokenizer, texts, ["occlusion"])
    assert list(new) == list(old) == ["occlusion"]
    for a, b in zip(new["occlusion"], old["occlusion"]):
        assert a.word_attributions.tolist() == b.word_attributions.tolist()
