import os
from pathlib import Path

import pytest

from captum_nlp_ext.datasets import (
    load_eraser_movies,
    load_esnli,
    load_imdb_sample,
    load_mr,
    load_sst,
    load_sst2,
    resolve_data_dir,
)
from captum_nlp_ext.datasets._paths import resolve_models_dir

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO.parent / "shared" / "data").resolve()
needs_data = pytest.mark.skipif(
    not (SHARED / "sst2" / "dev.tsv").is_file(),
    reason=f"shared data not found at {SHARED}",
)


def test_explicit_argument_wins_over_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CAPTUM_NLP_DATA", str(tmp_path / "from-env"))
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir() == tmp_path / "from-env"


def test_empty_env_var_is_ignored(monkeypatch, tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.setenv("CAPTUM_NLP_DATA", "")
    monkeypatch.chdir(tmp_path / "repo")
    assert resolve_data_dir() == (tmp_path / "shared" / "data").resolve()


def test_default_is_shared_data_next_to_cwd(monkeypatch, tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "shared" / "models").mkdir(parents=True)
    monkeypatch.delenv("CAPTUM_NLP_DATA", raising=False)
    monkeypatch.delenv("CAPTUM_NLP_MODELS", raising=False)
    monkeypatch.chdir(tmp_path / "repo")
    assert resolve_data_dir() == (tmp_path / "shared" / "data").resolve()
    assert resolve_models_dir() == (tmp_path / "shared" / "models").resolve()


def test_default_uses_repo_root_of_cwd(monkeypatch, tmp_path):
    # From a sub-folder of a repository (a worktree has a .git *file*).
    repo = tmp_path / "repo"
    (repo / "tests" / "deep").mkdir(parents=True)
    (repo / ".git").write_text("gitdir: elsewhere\n")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.delenv("CAPTUM_NLP_DATA", raising=False)
    monkeypatch.chdir(repo / "tests" / "deep")
    assert resolve_data_dir() == (tmp_path / "shared" / "data").resolve()


@needs_data
def test_default_falls_back_to_package_repo(monkeypatch, tmp_path):
    monkeypatch.delenv("CAPTUM_NLP_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir() == SHARED
    assert len(load_sst2("dev", limit=3)) == 3


@pytest.mark.parametrize(
    "load, missing",
    [
        (lambda: load_sst2("dev"), "sst2/dev.tsv"),
        (lambda: load_sst2("train"), "sst2/train.tsv"),
        (lambda: load_sst("dev"), "sst_trees/dev.txt"),
        (lambda: load_eraser_movies("val"), "eraser_movies/val.jsonl"),
        (lambda: load_esnli(), "esnli/dev_highlights.jsonl"),
        (lambda: load_mr(), "mr/rt-polarity.neg"),
        (lambda: load_imdb_sample("valid"), "imdb_sample/texts.csv"),
    ],
)
def test_missing_file_error_names_file_and_env_var(
    monkeypatch, tmp_path, load, missing
):
    monkeypatch.setenv("CAPTUM_NLP_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        load()
    message = str(info.value)
    assert str(tmp_path / missing) in message
    assert "CAPTUM_NLP_DATA" in message


def test_missing_second_mr_file_is_named(tmp_path):
    (tmp_path / "mr").mkdir()
    (tmp_path / "mr" / "rt-polarity.neg").write_bytes(b"bad .\n")
    with pytest.raises(FileNotFoundError, match="rt-polarity.pos"):
        load_mr(data_dir=tmp_path)


@needs_data
def test_missing_eraser_document_is_named(tmp_path):
    (tmp_path / "eraser_movies").mkdir()
    first = (SHARED / "eraser_movies" / "val.jsonl").read_text().splitlines()[0]
    (tmp_path / "eraser_movies" / "val.jsonl").write_text(first + "\n")
    with pytest.raises(FileNotFoundError) as info:
        load_eraser_movies("val", data_dir=tmp_path)
    assert os.path.join("eraser_movies", "docs", "negR_800.txt") in str(info.value)
    assert "CAPTUM_NLP_DATA" in str(info.value)


def test_bad_split_and_limit_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_sst2("test", data_dir=tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_eraser_movies("test", data_dir=tmp_path)
    with pytest.raises(ValueError, match="limit"):
        load_esnli(limit=-1, data_dir=tmp_path)
    with pytest.raises(ValueError, match="order"):
        load_mr(data_dir=tmp_path, order="shuffled")
