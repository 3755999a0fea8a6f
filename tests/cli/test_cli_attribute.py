"""captum-nlp attribute on the command line: a run, and every mistake a user
can type ending in one line that names the flag, file or line."""

import csv
import re

import pandas as pd
import pytest

from captum_nlp_ext.cli import main


def attribute(model_dir, data, out, *extra):
    return main(
        [
            "attribute",
            "--model", str(model_dir),
            "--dataset", str(data),
            "--methods", "nlgp,random",
            "--budget", "8",
            "--out", str(out),
            "--no-progress",
            *extra,
        ]
    )  # fmt: skip


def test_a_run_writes_parquet_and_says_what_it_did(
    tmp_path, tiny_model_dir, toy_jsonl, capsys
):
    code = attribute(tiny_model_dir, toy_jsonl, tmp_path / "run", "--examples", "6",
                     "--id-field", "id", "--dtype", "float32")  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "6 examples (6 now, 0 failed)" in out and "1 rank(s)" in out
    frame = pd.read_parquet(tmp_path / "run" / "shards")
    assert len(frame) == 12 and frame.example_id[0] == "toy-0"


@pytest.fixture
def bad_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([["text", "label"], ["a good film", "1"], ["", "0"]])
    return path


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--label-field", "stars"], "--label-field: .*no field 'stars'"),
        (["--dtype", "float64"], "--dtype: invalid choice"),
        (["--shard-size", "0"], "--shard-size: must be >= 1"),
        ([], r"reviews.csv, line 3: the field 'text' is missing or empty \(fix the "
             r"row, or pass --skip-bad-rows"),
    ],
)  # fmt: skip
def test_mistakes_name_the_flag_or_the_line(
    tmp_path, tiny_model_dir, bad_csv, capsys, extra, message
):
    try:
        code = attribute(tiny_model_dir, bad_csv, tmp_path / "x", *extra)
    except SystemExit as stop:  # argparse's own checks
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err


def test_bad_rows_skipped_are_recorded(tmp_path, tiny_model_dir, bad_csv):
    assert attribute(tiny_model_dir, bad_csv, tmp_path / "s", "--skip-bad-rows") == 0
    frame = pd.read_parquet(tmp_path / "s" / "shards")
    assert frame[frame.example == 1].failed.str.contains("'text'").all()


def test_file_flags_on_a_named_data_set_and_a_missing_file(
    tmp_path, tiny_model_dir, capsys
):
    assert attribute(tiny_model_dir, "sst2", tmp_path / "x", "--text-field", "t") == 2
    assert "--text-field: for a file; --dataset sst2" in capsys.readouterr().err
    assert attribute(tiny_model_dir, tmp_path / "absent.jsonl", tmp_path / "x") == 2
    assert "--dataset: " in capsys.readouterr().err
