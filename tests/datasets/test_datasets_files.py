"""Your own data in: JSONL, CSV, TSV and datasets folders, read lazily; bad
rows named by file and line, or recorded with skip_bad_rows."""

import csv
import json

import pytest

from captum_nlp_ext.datasets.files import BadRowError, DatasetFile

CLASSES = ["negative", "positive"]
ROWS = [
    {"id": "a", "text": "a fine film", "label": 1, "hyp": "it is good",
     "rationale": [0, 1, 0]},
    {"id": "b", "text": "dull  and long", "label": "negative", "hyp": "it is bad",
     "rationale": [1, 0, 1, 0, 0, 1]},
    {"id": "c", "text": "great fun", "label": "1", "hyp": "fun",
     "rationale": [1, 1]},
]  # fmt: skip
FIELDS = dict(
    text_field="text",
    label_field="label",
    pair_field="hyp",
    rationale_field="rationale",
    id_field="id",
)


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def write_table(path, rows, delimiter):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        for row in rows:
            flat = dict(row)
            if isinstance(flat.get("rationale"), list):
                flat["rationale"] = " ".join(map(str, flat["rationale"]))
            writer.writerow(flat)
    return path


@pytest.fixture(params=["jsonl", "csv", "tsv"])
def data_file(request, tmp_path):
    if request.param == "jsonl":
        return write_jsonl(tmp_path / "rows.jsonl", ROWS)
    delimiter = "," if request.param == "csv" else "\t"
    return write_table(tmp_path / f"rows.{request.param}", ROWS, delimiter)


def test_pairs_labels_and_rationales_in_every_format(data_file):
    rows = list(DatasetFile(data_file, classes=CLASSES, **FIELDS))
    assert [r.number for r in rows] == [0, 1, 2]
    first, second, third = (r.example for r in rows)
    assert first.words == ("a", "fine", "film")
    assert first.text_pair_words == ("it", "is", "good")
    assert first.rationale == (0, 1, 0) and first.pair_rationale is None
    assert first.example_id == "a" and first.label == 1
    # A class name, and a rationale over both texts of the pair.
    assert second.label == 0 and second.words == ("dull", "and", "long")
    assert second.rationale == (1, 0, 1) and second.pair_rationale == (0, 0, 1)
    assert third.label == 1
    assert DatasetFile(data_file, **FIELDS, classes=CLASSES).count() == 3


def test_rows_come_lazily_and_only_those_asked(tmp_path):
    path = write_jsonl(tmp_path / "big.jsonl", ROWS * 1000)
    rows = DatasetFile(path).rows(numbers={5, 2999})
    assert [r.number for r in rows] == [5, 2999]
    # A generator: nothing is read before it is asked for.
    lazy = DatasetFile(path).rows()
    assert next(lazy).number == 0


@pytest.mark.parametrize(
    "row, problem",
    [
        ({"id": "x", "label": 1}, "the field 'text' is missing or empty"),
        ({"text": "   ", "label": 1}, "the field 'text' is empty"),
        ({"text": "ok film", "label": 7}, "the label 7 is not a class of the model"),
        ({"text": "ok film", "label": "neutral"}, "the label 'neutral' is not a class"),
        (
            {"text": "ok film", "label": 1, "rationale": [1]},
            "the rationale has 1 flags for 2",
        ),
    ],
)
def test_a_bad_row_names_the_file_and_line(tmp_path, row, problem):
    path = tmp_path / "bad.jsonl"
    good = {"text": "a film", "label": 0, "rationale": [0, 1]}
    write_jsonl(path, [good, dict(good), {"rationale": [0, 1], **row}])
    file = DatasetFile(
        path, label_field="label", rationale_field="rationale", classes=CLASSES
    )
    with pytest.raises(BadRowError, match=f"bad.jsonl, line 3: {problem}"):
        list(file)
    skipped = list(
        DatasetFile(
            path,
            label_field="label",
            rationale_field="rationale",
            classes=CLASSES,
            skip_bad_rows=True,
        )
    )
    assert [r.example is None for r in skipped] == [False, False, True]
    assert problem in skipped[2].problem and skipped[2].line == 3


def test_csv_lines_count_the_header_and_blank_jsonl_lines_are_not_rows(tmp_path):
    path = write_table(tmp_path / "t.csv", [{"text": "good"}, {"text": ""}], ",")
    with pytest.raises(BadRowError, match=r"t.csv, line 3: the field 'text'"):
        list(DatasetFile(path))
    jsonl = tmp_path / "gaps.jsonl"
    jsonl.write_text('{"text": "a"}\n\n{"text": "b"}\nnot json\n', encoding="utf-8")
    rows = list(DatasetFile(jsonl, skip_bad_rows=True))
    assert [(r.number, r.line) for r in rows] == [(0, 1), (1, 3), (2, 4)]
    assert rows[2].problem.startswith("not JSON")


def test_a_missing_header_field_or_wrong_file_is_refused(tmp_path):
    path = write_table(tmp_path / "t.tsv", [{"review": "good"}], "\t")
    with pytest.raises(ValueError, match="`text_field`: .*no field 'text'.*review"):
        DatasetFile(path)
    with pytest.raises(ValueError, match=r"\.jsonl, \.csv or \.tsv"):
        DatasetFile(tmp_path / "data.parquet")
    with pytest.raises(FileNotFoundError, match="no file"):
        DatasetFile(tmp_path / "absent.jsonl")


def test_a_datasets_folder(tmp_path):
    import datasets

    folder = tmp_path / "hf"
    records = {key: [row[key] for row in ROWS] for key in ("id", "text", "hyp")}
    records["label"] = [1, 0, 1]
    datasets.DatasetDict({"test": datasets.Dataset.from_dict(records)}).save_to_disk(
        str(folder)
    )
    rows = list(
        DatasetFile(folder, label_field="label", pair_field="hyp", classes=CLASSES)
    )
    assert [r.example.label for r in rows] == [1, 0, 1]
    assert rows[1].example.text_pair_words == ("it", "is", "bad")
    with pytest.raises(ValueError, match="`split`: .*holds the splits"):
        DatasetFile(folder, split="train")


def test_a_jsonl_field_that_no_row_has_is_refused_as_a_typo(tmp_path):
    # A field missing from one row is a bad row; one that no row has is a typo,
    # refused before any row is read (skipping rows would record them all).
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{"id": "r0", "text": "a film"}, {"id": "r1", "text": "b"}])
    for skip in (False, True):
        expected = r"`label_field`: .*no field 'nosuch' in its first rows; its "
        with pytest.raises(ValueError, match=expected + r"fields are \['id', 'text'\]"):
            DatasetFile(path, label_field="nosuch", skip_bad_rows=skip)
    write_jsonl(path, [{"id": "r0", "text": "a film", "label": 1}, {"id": "r1"}])
    rows = list(DatasetFile(path, label_field="label", id_field="id",
                            skip_bad_rows=True))  # fmt: skip
    # a bad row keeps its id
    assert [r.id for r in rows] == ["r0", "r1"] and rows[1].example is None
