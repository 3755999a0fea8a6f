import json
from collections import Counter

import pytest

from captum_nlp_ext.datasets import (
    DocumentRationale,
    EraserPrediction,
    load_eraser_movies,
    make_eraser_prediction,
    mask_to_spans,
    read_eraser_jsonl,
    resolve_data_dir,
    spans_to_mask,
    TextExample,
    write_eraser_jsonl,
)

DATA = resolve_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / "eraser_movies" / "val.jsonl").is_file(),
    reason=f"ERASER movies not found under {DATA} (set CAPTUM_NLP_DATA)",
)


@pytest.fixture(scope="module")
def val():
    return load_eraser_movies("val")


def _raw(split):
    with open(DATA / "eraser_movies" / f"{split}.jsonl") as handle:
        return [json.loads(line) for line in handle]


@needs_data
def test_counts_and_labels(val):
    train = load_eraser_movies("train")
    assert len(val) == 200 and len(train) == 1600
    assert Counter(e.label for e in val) == {0: 100, 1: 100}
    assert Counter(e.label for e in train) == {0: 800, 1: 800}
    assert val[0].example_id == "negR_800.txt" and val[0].label == 0
    # The one training annotation without evidence has no rationale at all.
    missing = [e.example_id for e in train if e.rationale is None]
    assert missing == ["posR_161.txt"]


@needs_data
def test_first_val_document_by_hand(val):
    first = val[0]
    text = (DATA / "eraser_movies" / "docs" / "negR_800.txt").read_text()
    assert first.words == tuple(text.split())
    assert len(first.words) == 701
    assert first.words[:6] == ("there", "were", "four", "movies", "that", "earned")
    assert first.meta["evidence_spans"] == ((692, 700), (618, 622))
    assert first.meta["docid"] == "negR_800.txt"
    rationale_words = [w for w, r in zip(first.words, first.rationale) if r]
    assert " ".join(rationale_words) == (
        "nothing really worth watching "
        "definitely the cinematic equivalent of a sleeper car"
    )
    assert mask_to_spans(first.rationale) == ((618, 622), (692, 700))


@needs_data
def test_end_token_is_exclusive_on_every_val_evidence(val):
    by_id = {e.example_id: e for e in val}
    checked = 0
    for annotation in _raw("val"):
        example = by_id[annotation["annotation_id"]]
        for group in annotation["evidences"]:
            for ev in group:
                start, end = ev["start_token"], ev["end_token"]
                assert " ".join(example.words[start:end]) == ev["text"]
                # An inclusive end would read one word too many (except for a
                # span ending the document, where no word follows).
                if end < len(example.words):
                    assert " ".join(example.words[start : end + 1]) != ev["text"]
                    assert not example.rationale[end] or any(
                        s <= end < e for s, e in example.meta["evidence_spans"]
                    )
                assert all(example.rationale[start:end])
                checked += 1
    assert checked == 1517
    # The mask is exactly the union of the spans: no stray ones.
    for example in val:
        union = spans_to_mask(example.meta["evidence_spans"], len(example.words))
        assert example.rationale == union


@needs_data
def test_sentence_spans_agree_with_evidence_sentence_indices(val):
    by_id = {e.example_id: e for e in val}
    for annotation in _raw("val"):
        sentences = by_id[annotation["annotation_id"]].meta["sentence_spans"]
        assert sentences[0][0] == 0
        assert sentences[-1][1] == len(by_id[annotation["annotation_id"]].words)
        for group in annotation["evidences"]:
            for ev in group:
                first = sentences[ev["start_sentence"]]
                last = sentences[ev["end_sentence"] - 1]
                assert first[0] <= ev["start_token"] < ev["end_token"] <= last[1]


def test_evidence_text_mismatch_is_reported(tmp_path):
    (tmp_path / "eraser_movies" / "docs").mkdir(parents=True)
    (tmp_path / "eraser_movies" / "docs" / "d1").write_text("a good film\nreally .\n")
    ann = {
        "annotation_id": "d1",
        "classification": "POS",
        "evidences": [
            [
                {
                    "docid": "d1",
                    "start_token": 1,
                    "end_token": 4,
                    "text": "good film really",
                }
            ]
        ],
        "query": "q",
    }
    path = tmp_path / "eraser_movies" / "val.jsonl"
    path.write_text(json.dumps(ann) + "\n")
    (example,) = load_eraser_movies("val", data_dir=tmp_path)
    assert example.words == ("a", "good", "film", "really", ".")
    assert example.rationale == (0, 1, 1, 1, 0)
    assert example.meta["sentence_spans"] == ((0, 3), (3, 5))
    ann["evidences"][0][0]["end_token"] = 3
    path.write_text(json.dumps(ann) + "\n")
    with pytest.raises(ValueError, match="expected 'good film really'"):
        load_eraser_movies("val", data_dir=tmp_path)


def _prediction(ann_id, docid, n, with_scores=True):
    return EraserPrediction(
        annotation_id=ann_id,
        rationales=(
            DocumentRationale(
                docid=docid,
                hard_spans=((1, 3), (5, 6)),
                soft_scores=[0.5 * i for i in range(n)] if with_scores else None,
            ),
        ),
        classification="POS",
        classification_scores={"NEG": 0.25, "POS": 0.75},
        comprehensiveness_classification_scores={"NEG": 0.6, "POS": 0.4},
        sufficiency_classification_scores={"NEG": 0.3, "POS": 0.7},
        thresholded_scores=(
            {
                "threshold": 0.1,
                "comprehensiveness_classification_scores": {"NEG": 0.5, "POS": 0.5},
                "sufficiency_classification_scores": {"NEG": 0.2, "POS": 0.8},
            },
        ),
        tokens_to_flip=3,
    )


def test_write_read_round_trip_and_json_layout(tmp_path):
    preds = [_prediction("a.txt", "a.txt", 7), _prediction("b.txt", "b.txt", 9)]
    path = tmp_path / "pred.jsonl"
    write_eraser_jsonl(path, preds)
    assert read_eraser_jsonl(path) == preds
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    obj = json.loads(lines[0])
    assert obj["annotation_id"] == "a.txt"
    (rat,) = obj["rationales"]
    assert rat["docid"] == "a.txt"
    assert rat["hard_rationale_predictions"] == [
        {"start_token": 1, "end_token": 3},
        {"start_token": 5, "end_token": 6},
    ]
    assert rat["soft_rationale_predictions"] == [0.5 * i for i in range(7)]
    assert "soft_sentence_predictions" not in rat
    assert obj["classification"] == "POS"
    assert obj["classification_scores"] == {"NEG": 0.25, "POS": 0.75}
    assert obj["tokens_to_flip"] == 3
    assert obj["thresholded_scores"][0]["threshold"] == 0.1


def test_minimal_prediction_omits_optional_keys(tmp_path):
    pred = EraserPrediction("a", (DocumentRationale("a", soft_sentence_scores=[1]),))
    path = tmp_path / "p.jsonl"
    write_eraser_jsonl(path, [pred])
    assert json.loads(path.read_text()) == {
        "annotation_id": "a",
        "rationales": [
            {
                "docid": "a",
                "hard_rationale_predictions": [],
                "soft_sentence_predictions": [1.0],
            }
        ],
    }
    assert read_eraser_jsonl(path) == [pred]


def test_writer_enforces_eraser_rules(tmp_path):
    path = tmp_path / "p.jsonl"
    same = _prediction("a", "a", 7)
    with pytest.raises(ValueError, match="appears twice"):
        write_eraser_jsonl(path, [same, same])
    with pytest.raises(ValueError, match="soft_rationale_predictions"):
        write_eraser_jsonl(
            path, [_prediction("a", "a", 7), _prediction("b", "b", 7, False)]
        )
    bare = EraserPrediction("c", (DocumentRationale("c"),))
    with pytest.raises(ValueError, match="'classification' is set on 1 of 2"):
        write_eraser_jsonl(path, [_prediction("a", "a", 7, False), bare])
    with pytest.raises(ValueError, match="together"):
        EraserPrediction("a", (), classification="POS")
    for spans in [((2, 4), (3, 5)), ((3, 5), (0, 1)), ((2, 2),)]:
        with pytest.raises(ValueError, match="non-overlapping"):
            DocumentRationale("d", hard_spans=spans)


@needs_data
def test_make_prediction_for_real_example_round_trips(tmp_path, val):
    example = val[0]
    n = len(example.words)
    scores = [float(r) + 0.001 * i for i, r in enumerate(example.rationale)]
    pred = make_eraser_prediction(
        example,
        soft_scores=scores,
        hard_rationale=example.rationale,
        class_probabilities=[0.9, 0.1],
    )
    assert pred.annotation_id == "negR_800.txt"
    assert pred.classification == "NEG"
    assert pred.classification_scores == {"NEG": 0.9, "POS": 0.1}
    (doc,) = pred.rationales
    assert doc.docid == "negR_800.txt"
    assert doc.hard_spans == ((618, 622), (692, 700))
    assert len(doc.soft_scores) == n
    path = tmp_path / "val_pred.jsonl"
    write_eraser_jsonl(path, [pred])
    (back,) = read_eraser_jsonl(path)
    assert back == pred
    assert spans_to_mask(back.rationales[0].hard_spans, n) == example.rationale


def test_make_prediction_validates_inputs():
    ex = TextExample(["a", "b"], 1, "x.txt")
    with pytest.raises(ValueError, match="soft_scores has 1 entries for 2"):
        make_eraser_prediction(ex, soft_scores=[0.1])
    with pytest.raises(ValueError, match="normalised"):
        make_eraser_prediction(ex, class_probabilities=[0.9, 0.9])
    with pytest.raises(ValueError, match="probabilities for labels"):
        make_eraser_prediction(ex, class_probabilities=[1.0])
    pred = make_eraser_prediction(ex, class_probabilities=[0.2, 0.8])
    assert pred.classification == "POS" and pred.rationales[0].docid == "x.txt"
    assert pred.rationales[0].hard_spans == ()
