import json

import pytest
from benchmark_toys import make_examples

from captum_nlp_ext.benchmark.store import load_run
from captum_nlp_ext.cli import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_model, tiny_tokenizer):
    """A tiny classifier folder and an SST-2-shaped data folder of toy
    sentences."""
    root = tmp_path_factory.mktemp("cli")
    model_dir = root / "models" / "tiny-classifier"
    tiny_model.save_pretrained(model_dir)
    tiny_tokenizer.save_pretrained(model_dir)
    (root / "data" / "sst2").mkdir(parents=True)
    rows = [f"{e.text}\t{e.label}" for e in make_examples(6, seed=7)]
    (root / "data" / "sst2" / "dev.tsv").write_text(
        "sentence\tlabel\n" + "\n".join(rows) + "\n"
    )
    return root


def benchmark(saved, out, *extra):
    return main(
        [
            "benchmark",
            "--model",
            "tiny-classifier",
            "--models-dir",
            str(saved / "models"),
            "--data-dir",
            str(saved / "data"),
            "--dataset",
            "sst2",
            "--n",
            "5",
            "--methods",
            "nlgp,random",
            "--method",
            "occlusion",
            "--budget",
            "8",
            "--batch-size",
            "2",
            "--out",
            str(out),
            "--no-progress",
            *extra,
        ]
    )


def test_benchmark_writes_and_resumes_a_run_folder(saved, tmp_path, capsys):
    out = tmp_path / "run"
    assert benchmark(saved, out) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    settings, records = load_run(out)
    # The folder's name, not a path on this machine (that is model_path).
    assert settings["model"] == "tiny-classifier"
    assert settings["model_path"] == str(saved / "models" / "tiny-classifier")
    assert settings["dataset"] == "sst2" and settings["split"] == "dev"
    assert settings["methods"] == ["nlgp", "random", "occlusion"]
    assert settings["budget"] == 8 and settings["n"] == 5
    # SST-2 has no rationales: faithfulness metrics only
    assert settings["metrics"] == [
        "comprehensiveness",
        "sufficiency",
        "log_odds",
        "delta_accuracy",
        "deletion_auc",
        "insertion_auc",
    ]
    assert len(records) == 15 and records[0]["rationale"] is None
    first = (out / "results.jsonl").read_text()
    # resuming a finished run computes nothing and keeps the file as it is
    assert benchmark(saved, out) == 0
    assert (out / "results.jsonl").read_text() == first
    capsys.readouterr()
    # other settings: one line on stderr, exit status 2, no traceback
    assert benchmark(saved, out, "--budget", "4") == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("captum-nlp: error: ")
    assert "budget: 8 in the folder, 4 now" in error and "--overwrite" in error
    with pytest.raises(ValueError, match="budget: 8 in the folder, 4 now"):
        benchmark(saved, out, "--budget", "4", "--debug")
    assert benchmark(saved, out, "--budget", "4", "--overwrite") == 0
    assert json.loads((out / "run.json").read_text())["budget"] == 4


def test_explain_takes_any_registered_method(saved, capsys):
    code = main(
        [
            "explain",
            "--model",
            str(saved / "models" / "tiny-classifier"),
            "--text",
            "a good film",
            "--method",
            "occlusion",
            "--method",
            "saliency",
            "--no-colour",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "occlusion:" in printed and "saliency:" in printed
    assert "nlgp:" not in printed


def test_set_overrides_method_settings_and_records_them(saved, tmp_path, capsys):
    out = tmp_path / "run"
    assert benchmark(saved, out, "--set", "nlgp.output=logits") == 0
    settings, _ = load_run(out)
    assert settings["method_settings"]["nlgp"]["settings"]["output"] == "logits"
    capsys.readouterr()
    assert benchmark(saved, tmp_path / "other", "--set", "max_steps=3") == 2
    assert "captum-nlp: error: --set expects METHOD.SETTING=VALUE" in (
        capsys.readouterr().err
    )
    assert benchmark(saved, tmp_path / "other", "--set", "nlgp.steps=3") == 2
    assert "unknown settings ['steps']" in capsys.readouterr().err


def test_set_reads_python_and_json_literals():
    from captum_nlp_ext.cli._checks import method_options

    options = method_options(
        [
            "lafa.signed=false",
            "marc.prior_length=null",
            "marc.early_stopping=True",
            "nlgp.stdevs=0.25",
            "nlgp.perturbation=scale",
            "lime.note='false'",
        ]
    )
    assert options["lafa"] == {"signed": False}
    assert options["marc"] == {"prior_length": None, "early_stopping": True}
    assert options["nlgp"] == {"stdevs": 0.25, "perturbation": "scale"}
    assert options["lime"] == {"note": "false"}  # quoted: text
