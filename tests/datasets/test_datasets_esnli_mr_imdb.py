import csv
from collections import Counter

import pytest

from captum_nlp_ext.datasets import (
    imdb_words,
    load_esnli,
    load_imdb_sample,
    load_mr,
    resolve_data_dir,
)

DATA = resolve_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / "esnli" / "dev_highlights.jsonl").is_file(),
    reason=f"shared data not found under {DATA} (set CAPTUM_NLP_DATA)",
)


@needs_data
def test_esnli_counts_labels_and_first_pair():
    pairs = load_esnli()
    assert len(pairs) == 2981
    assert Counter(e.label for e in pairs) == {1: 1522, 0: 1459}
    first = pairs[0]
    assert first.example_id == "esnli-dev-2" and first.meta["dev_index"] == 2
    assert first.label == 1  # contradiction
    assert first.text == "Two women are embracing while holding to go packages ."
    assert first.text_pair == "The men are fighting outside a deli ."
    highlighted = [w for w, r in zip(first.words, first.rationale) if r]
    assert highlighted == ["Two", "women", "embracing"]
    pair_highlighted = [
        w for w, r in zip(first.text_pair_words, first.pair_rationale) if r
    ]
    assert pair_highlighted == ["men", "fighting"]
    assert pairs[1].label == 0  # entailment
    assert all(len(e.rationale) == len(e.words) for e in pairs)
    assert len({e.example_id for e in pairs}) == 2981
    assert len(load_esnli(limit=10)) == 10


@needs_data
def test_mr_counts_order_and_latin1():
    grouped = load_mr()
    assert len(grouped) == 10662
    assert [e.label for e in grouped] == [0] * 5331 + [1] * 5331
    assert grouped[0].text == "simplistic , silly and tedious ."
    assert grouped[0].example_id == "mr-neg-0"
    assert grouped[5331].example_id == "mr-pos-0"
    assert grouped[5331].words[:4] == ("the", "rock", "is", "destined")
    # Byte 0xE9 decoded as latin-1.
    assert grouped[31].words == ("the", "action", "clichés", "just", "pile", "up", ".")
    # Byte 0x85 (U+0085 after latin-1) must not split the line in two ...
    assert grouped[473].words[:3] == ("the", "maudlin", "way")
    assert grouped[472].example_id == "mr-neg-472"
    assert not any("\x85" in w for e in grouped for w in e.words)
    # ... nor shift any later line.
    raw = (DATA / "mr" / "rt-polarity.pos").read_bytes().split(b"\n")
    assert grouped[-1].text == raw[5330].decode("latin-1").strip()


@needs_data
def test_mr_interleaved_prefix_is_balanced():
    inter = load_mr(order="interleaved", limit=6)
    assert [e.example_id for e in inter] == [
        "mr-neg-0",
        "mr-pos-0",
        "mr-neg-1",
        "mr-pos-1",
        "mr-neg-2",
        "mr-pos-2",
    ]
    assert Counter(e.label for e in load_mr(order="interleaved")) == {0: 5331, 1: 5331}


def test_imdb_words_strips_br_tags():
    assert imdb_words("Good.<br /><br />But  bad<br />x") == [
        "Good.",
        "But",
        "bad",
        "x",
    ]


@needs_data
def test_imdb_counts_labels_and_examples():
    train, valid = load_imdb_sample("train"), load_imdb_sample("valid")
    assert len(train) == 800 and len(valid) == 200
    with open(DATA / "imdb_sample" / "texts.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    expected = Counter(
        (r["is_valid"] == "True", r["label"] == "positive") for r in rows
    )
    got = Counter((False, e.label == 1) for e in train) + Counter(
        (True, e.label == 1) for e in valid
    )
    assert got == expected
    first = train[0]
    assert first.example_id == "imdb-0" and first.label == 0
    assert first.words[:4] == ("Un-bleeping-believable!", "Meg", "Ryan", "doesn't")
    assert first.words[-1] == "Wooofff!"
    second = train[1]
    assert second.label == 1
    # "...the script.<br /><br />But it is hard..." in the CSV.
    i = second.words.index("script.")
    assert second.words[i : i + 3] == ("script.", "But", "it")
    assert not any("<br" in w for e in train + valid for w in e.words)
    assert valid[0].example_id == "imdb-800" and valid[0].meta["row"] == 800
    assert valid[0].words[:3] == ("This", "very", "funny")
