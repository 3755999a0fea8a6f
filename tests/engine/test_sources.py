"""One reader of a run's examples: engine.sources opens a DataSource for the
benchmark and the corpus alike."""

import pytest
from benchmark_toys import make_examples

from captum_nlp_ext.benchmark._data import RunData
from captum_nlp_ext.datasets import load_sst2
from captum_nlp_ext.engine.settings import DataSource
from captum_nlp_ext.engine.sources import open_source


def _examples(source):
    return [row.example for row in source.rows()]


def test_a_named_data_set_up_to_n_with_its_training_split(data_dir):
    source = open_source(DataSource("sst2", n=5, data_dir=data_dir))
    assert (source.name, source.split, source.count()) == ("sst2", "dev", 5)
    assert [row.number for row in source.rows()] == [0, 1, 2, 3, 4]
    assert _examples(source) == load_sst2("dev", data_dir, limit=5)
    assert [e.text for e in _examples(source)] == [
        e.text for e in load_sst2("dev", data_dir)[:5]
    ]
    texts = source.reference_texts(3)
    assert texts == [e.text for e in load_sst2("train", data_dir, limit=3)]
    assert source.reference_label() == "sst2 training split"


def test_a_file_is_read_lazily_with_its_fields(toy_jsonl):
    source = open_source(
        DataSource(toy_jsonl, fields={"label_field": "label"}), classes=["neg", "pos"]
    )
    assert source.path == toy_jsonl and source.fields["label_field"] == "label"
    assert source.count() == 40
    assert [row.number for row in source.rows({3, 7})] == [3, 7]
    with pytest.raises(
        ValueError, match="need reference texts .* pass `reference_texts`"
    ):
        source.reference_texts(10)
    assert source.reference_label() is None


def test_examples_given_as_a_list():
    examples = make_examples(6)
    source = open_source(DataSource(examples, n=4))
    assert (source.name, source.count()) == ("custom", 4)
    assert _examples(source) == examples[:4]
    with pytest.raises(ValueError, match="need reference texts"):
        source.reference_texts(10)


def test_what_is_not_a_data_set_is_refused(tmp_path):
    with pytest.raises(ValueError, match="`dataset` must be a data set name"):
        open_source(DataSource(tmp_path / "texts.txt"))
    with pytest.raises(ValueError, match="`text_field` must name a field"):
        open_source(DataSource(tmp_path / "texts.jsonl", fields={"text_field": ""}))


@pytest.mark.parametrize("kind", ["named", "file", "list"])
def test_the_benchmark_keeps_the_rows_its_source_gives(kind, data_dir, toy_jsonl):
    dataset = {"named": "sst2", "file": toy_jsonl, "list": make_examples(9)}[kind]
    source = DataSource(dataset, n=7, data_dir=data_dir)
    data = RunData.load(source, classes=["neg", "pos"])
    opened = open_source(source, classes=["neg", "pos"])
    assert data.examples == _examples(opened)[:7]
    assert data.name == opened.name
    # A run's record names a file's split "all" and a list's "custom".
    assert data.split == {"named": "dev", "file": "all", "list": "custom"}[kind]
