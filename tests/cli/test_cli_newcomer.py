"""What a newcomer typed wrong (issue 30): each ends in one line that names the
flag, exit status 2, or gives the right result; nothing is silently wrong."""

import json

import pandas as pd
import pytest
import torch

from captum_nlp_ext.cli import main


def _last_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines, "no error printed"
    return lines[-1]


def test_a_model_folder_that_is_not_a_classifier_is_refused(
    tmp_path, tiny_tokenizer, capsys
):
    # A masked LM loads as a classifier with a random head: explaining it
    # would explain noise.
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=len(tiny_tokenizer), hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
    )  # fmt: skip
    folder = tmp_path / "mlm"
    BertForMaskedLM(config).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    argv = ["explain", "--model", str(folder), "--text", "a fine film"]
    assert main(argv + ["--methods", "nlgp"]) == 2
    line = _last_error(capsys)
    assert line.startswith("captum-nlp: error: --model: ")
    assert "is not a trained sequence classifier" in line and "classifier." in line


def test_a_saved_classifier_still_loads(tiny_model_dir):
    from captum_nlp_ext.huggingface import load_classifier

    model, _ = load_classifier(tiny_model_dir)
    assert not model.training


def test_empty_methods_is_a_mistake_not_the_default(tiny_model_dir, capsys):
    argv = ["explain", "--model", str(tiny_model_dir), "--text", "a b", "--methods"]
    assert main(argv + [""]) == 2
    assert "--methods: no method given" in _last_error(capsys)
    assert main(argv + [" , "]) == 2
    assert "--methods: no method given" in _last_error(capsys)


@pytest.mark.parametrize("command", ["explain", "benchmark", "attribute"])
def test_a_budget_too_small_for_a_method_is_refused_before_the_model_loads(
    command, tmp_path, capsys
):
    # NLGP fits a regression: 2 samples at least. The run's settings are
    # checked before anything loads (no model folder is even needed).
    argv = [command, "--model", str(tmp_path / "nowhere"), "--budget", "1"]
    if command != "explain":
        argv += ["--dataset", "sst2", "--out", str(tmp_path / "run")]
    assert main(argv + ["--methods", "nlgp"]) == 2
    assert "--budget must be >= 2 for method 'nlgp'; got 1" in _last_error(capsys)


@pytest.fixture
def rows_jsonl(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [
        {"id": "r0", "text": "a good film", "label": 1},
        {"id": "r1", "text": "a dull plot", "label": 0},
        {"id": "r2", "text": "", "label": 1},
        {"id": "r3", "text": "fine", "label": "seven"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _attribute(model_dir, data, out, *extra):
    return main(
        ["attribute", "--model", str(model_dir), "--dataset", str(data),
         "--methods", "random", "--out", str(out), "--no-progress", *extra]
    )  # fmt: skip


@pytest.mark.parametrize("skip", [[], ["--skip-bad-rows"]])
def test_a_field_no_row_has_is_a_typo(
    tmp_path, tiny_model_dir, rows_jsonl, capsys, skip
):
    code = _attribute(
        tiny_model_dir, rows_jsonl, tmp_path / "x", "--label-field", "nosuch", *skip
    )
    assert code == 2
    line = _last_error(capsys)
    assert "--label-field: " in line and "no field 'nosuch'" in line
    assert "skip-bad-rows" not in line
    assert not (tmp_path / "x").exists()


def test_a_skipped_row_keeps_its_id(tmp_path, tiny_model_dir, rows_jsonl):
    code = _attribute(tiny_model_dir, rows_jsonl, tmp_path / "s", "--id-field", "id",
                      "--label-field", "label", "--skip-bad-rows")  # fmt: skip
    assert code == 0
    frame = pd.read_parquet(tmp_path / "s" / "shards").sort_values("example")
    assert frame.example_id.tolist() == ["r0", "r1", "r2", "r3"]
    assert frame.failed.isna().tolist() == [True, True, False, False]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_names_the_flag(
    tmp_path, tiny_model_dir, rows_jsonl, capsys
):
    code = _attribute(tiny_model_dir, rows_jsonl, tmp_path / "c", "--device", "cuda")
    assert code == 2
    assert _last_error(capsys).startswith("captum-nlp: error: --device cuda: ")


def test_out_that_is_a_file_names_the_flag(
    tmp_path, tiny_model_dir, rows_jsonl, capsys
):
    taken = tmp_path / "somefile.txt"
    taken.write_text("mine")
    assert _attribute(tiny_model_dir, rows_jsonl, taken) == 2
    assert "--out: " in _last_error(capsys)
    argv = ["benchmark", "--dataset", str(rows_jsonl), "--model", str(tiny_model_dir),
            "--n", "2", "--out", str(taken)]  # fmt: skip
    assert main(argv) == 2
    assert _last_error(capsys).startswith("captum-nlp: error: --out: ")
    assert taken.read_text() == "mine"
    argv = ["explain", "--model", str(tiny_model_dir), "--text", "a b", "--methods",
            "random", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 2
    assert "--out: " in _last_error(capsys)


def test_bidirectional_controls_are_neutralized_on_the_page(tiny_model_dir, tmp_path):
    out = tmp_path / "page.html"
    text = "\u202eevil\u202c text"
    argv = ["explain", "--model", str(tiny_model_dir), "--text", text,
            "--methods", "random", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    page = out.read_text(encoding="utf-8")
    assert "\u202e" not in page and "\u202c" not in page
    assert "\\u202eevil" in page


def test_the_explain_page_numbers_from_one_and_carries_settings_and_warnings(
    tiny_model_dir, tmp_path, capsys
):
    out = tmp_path / "page.html"
    argv = ["explain", "--model", str(tiny_model_dir), "--text", "a b c d e f g",
            "--text", "b c", "--methods", "random", "--max-length", "5",
            "--seed", "3", "--out", str(out), "--no-colour"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "text 1: kept 3 of 7 words" in err
    page = out.read_text(encoding="utf-8")
    numbers = [n for n in range(3) if f"<tr><td>{n}</td>" in page]
    assert numbers == [1, 2]
    assert "methods random; budget 128; seed 3; max length 5; texts: --text" in page
    assert "Warning: text 1: kept 3 of 7 words" in page
    assert "bits of weight of evidence for input marginalization" in page


def test_library_warnings_are_one_line_in_the_commands_words(
    tiny_model_dir, tmp_path, capsys
):
    # NLGP warns that 4 samples cannot fit a text's words: the terminal gets
    # the message, not a path, a line number and a line of source.
    argv = ["explain", "--model", str(tiny_model_dir), "--text", "a b c d e f g h",
            "--methods", "nlgp", "--budget", "4", "--no-colour"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "fewer samples than units" in line]
    assert lines and all(line.startswith("captum-nlp: warning: ") for line in lines)
    assert "UserWarning" not in err and ".py:" not in err


def test_set_errors_name_the_flag_and_the_method(tiny_model_dir, capsys):
    argv = ["explain", "--model", str(tiny_model_dir), "--text", "a b",
            "--methods", "random,nlgp"]  # fmt: skip
    assert main(argv + ["--set", "nlgp.samples=3"]) == 2
    line = _last_error(capsys)
    assert "--set of 'nlgp': unknown settings ['samples']" in line
    assert main(argv + ["--set", "lig.n_steps=3"]) == 2
    line = _last_error(capsys)
    assert "--set names methods not in the run: ['lig']" in line


def test_a_run_with_other_settings_says_which_differ(
    tmp_path, tiny_model_dir, rows_jsonl, capsys
):
    out = tmp_path / "run"
    base = ["--label-field", "label", "--skip-bad-rows", "--n", "2"]
    assert _attribute(tiny_model_dir, rows_jsonl, out, *base) == 0
    capsys.readouterr()
    code = main(
        ["attribute", "--model", str(tiny_model_dir), "--dataset", str(rows_jsonl),
         "--methods", "random,nlgp", "--out", str(out), "--no-progress", *base]
    )  # fmt: skip
    assert code == 2
    line = _last_error(capsys)
    assert "method_settings.nlgp now only" in line
    assert "methods: ['random'] in the folder, ['random', 'nlgp'] now" in line
    assert len(line) < 400


def test_explain_caches_lafas_index_per_model_and_pool(
    models_dir, data_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("CAPTUM_NLP_CACHE", str(tmp_path / "cache"))
    argv = ["explain", "--text", "a fine film", "--methods", "lafa",
            "--reference-pool", "16", "--no-colour", "--models-dir", str(models_dir),
            "--data-dir", str(data_dir)]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "LAFA's reference index: over 16 SST-2 training sentences" in err
    assert "DiffMask" not in err
    cached = list((tmp_path / "cache").glob("reference_index-*.safetensors"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    assert main(argv) == 0
    assert cached[0].stat().st_mtime_ns == stamp  # read, not built again
