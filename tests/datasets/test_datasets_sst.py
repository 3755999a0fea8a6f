from collections import Counter
from pathlib import Path

import pytest

from captum_nlp_ext.datasets import (
    centred_word_sentiment,
    load_sst,
    load_sst2,
    parse_sst_tree,
    PhraseSpan,
    resolve_data_dir,
    sst_binary_label,
    unescape_ptb,
)

needs_data = pytest.mark.skipif(
    not (resolve_data_dir() / "sst_trees" / "dev.txt").is_file(),
    reason="shared data not found (set CAPTUM_NLP_DATA)",
)


def test_parse_hand_written_tree():
    tree = parse_sst_tree("(3 (2 It) (4 (4 (2 's) (3 good)) (2 .)))")
    assert tree.words == ("It", "'s", "good", ".")
    assert tree.leaf_labels == (2, 2, 3, 2)
    assert tree.root_label == 3
    # Pre-order: the root, then the left-to-right internal nodes below it.
    assert tree.phrases == (
        PhraseSpan(0, 4, 3),
        PhraseSpan(1, 4, 4),
        PhraseSpan(1, 3, 4),
    )


def test_parse_unary_chain_single_leaf_and_whitespace():
    tree = parse_sst_tree("  (1 (0\n (4 great)))\n")
    assert tree.words == ("great",) and tree.leaf_labels == (4,)
    assert tree.phrases == (PhraseSpan(0, 1, 1), PhraseSpan(0, 1, 0))
    leaf_only = parse_sst_tree("(2 Hi)")
    assert leaf_only.words == ("Hi",) and leaf_only.phrases == ()
    assert leaf_only.root_label == 2


def test_parse_ternary_node_and_escapes():
    tree = parse_sst_tree(r"(2 (1 -LRB-) (3 writer\/director) (2 -RRB-))")
    assert tree.words == ("(", "writer/director", ")")
    assert tree.phrases == (PhraseSpan(0, 3, 2),)
    raw = parse_sst_tree(r"(2 (1 -LRB-) (3 a\/b))", unescape=False)
    assert raw.words == ("-LRB-", r"a\/b")
    assert unescape_ptb("-RSB-") == "]" and unescape_ptb("plain") == "plain"


def test_non_breaking_space_stays_inside_one_leaf():
    tree = parse_sst_tree("(2 (2 8\xa01\\/2) (2 .))")
    assert tree.words == ("8\xa01/2", ".")


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "expected '\\('"),
        ("(2 a", "expected '\\)'"),
        ("(2 a))", "text after the root"),
        ("(x a)", "not an integer"),
        ("()", "expected a label"),
        ("(2)", "no children"),
        ("(2 (1 a) b)", "expected '\\)'"),
        ("(2 a b)", "expected '\\)'"),
        ("(2 (1 a)) (3 b)", "text after the root"),
    ],
)
def test_parse_rejects_malformed_trees(text, why):
    with pytest.raises(ValueError, match=why):
        parse_sst_tree(text)


def test_binary_label_and_centring():
    assert [sst_binary_label(x) for x in range(5)] == [0, 0, None, 1, 1]
    with pytest.raises(ValueError):
        sst_binary_label(5)
    assert centred_word_sentiment([0, 1, 2, 3, 4], absolute=False) == (
        -1.0,
        -0.5,
        0.0,
        0.5,
        1.0,
    )
    assert centred_word_sentiment([0, 1, 2, 3, 4]) == (1.0, 0.5, 0.0, 0.5, 1.0)


@needs_data
def test_sst2_counts_labels_and_first_rows():
    dev, train = load_sst2("dev"), load_sst2("train")
    assert len(dev) == 872 and len(train) == 67349
    assert Counter(e.label for e in train) == {1: 37569, 0: 29780}
    assert dev[0].words == tuple(
        "it 's a charming and often affecting journey .".split()
    )
    assert dev[0].label == 1 and dev[0].example_id == "sst2-dev-0"
    assert dev[1].text == "unflinchingly bleak and desperate" and dev[1].label == 0
    assert all(e.rationale is None for e in dev)
    assert len(load_sst2("train", limit=5)) == 5


@needs_data
def test_sst_trees_counts_and_first_tree_by_hand():
    dev, train = load_sst("dev"), load_sst("train")
    assert len(dev) == 1101 and len(train) == 8544
    first = dev[0]
    assert (
        first.text
        == "It 's a lovely film with lovely performances by Buy and Accorsi ."
    )
    assert first.fine_label == 3 and first.label == 1
    # Only the two "lovely" leaves are labelled 3, every other leaf is neutral.
    assert first.word_scores == tuple(
        3.0 if w == "lovely" else 2.0 for w in first.words
    )
    assert first.phrases[0] == PhraseSpan(0, 13, 3)
    assert PhraseSpan(3, 5, 4) in first.phrases  # (4 (3 lovely) (2 film))
    # A binary tree over n leaves has n - 1 internal nodes.
    assert all(len(e.phrases) == len(e.words) - 1 for e in dev + train)
    second = dev[1]
    assert second.words[:3] == ("No", "one", "goes")
    assert second.fine_label == 2 and second.label is None
    assert second.word_scores[0] == 1.0


@needs_data
def test_sst_binary_dev_trees_are_exactly_the_sst2_dev_set():
    # GLUE SST-2 dev = SST dev trees without neutral roots, lower-cased: this
    # checks the parser, the unescaping and the binary mapping on real data.
    trees = Counter(
        (e.text.lower(), e.label) for e in load_sst("dev") if e.label is not None
    )
    sst2 = Counter((e.text, e.label) for e in load_sst2("dev"))
    assert sum(trees.values()) == 872
    assert trees == sst2


@needs_data
def test_sst_escaped_brackets_are_restored():
    dev = load_sst("dev")
    words = Counter(w for e in dev for w in e.words)
    assert words["("] == 52 and words[")"] == 52 and "-LRB-" not in words
    raw = load_sst("dev", unescape=False)
    assert Counter(w for e in raw for w in e.words)["-LRB-"] == 52


def test_sst_handles_data_dir_argument(tmp_path):
    folder = tmp_path / "sst_trees"
    folder.mkdir()
    Path(folder / "dev.txt").write_text("(4 (3 (3 Good) (2 fun)) (2 .))\n\n(1 Bad)\n")
    examples = load_sst("dev", data_dir=tmp_path)
    assert [e.example_id for e in examples] == ["sst-dev-0", "sst-dev-2"]
    assert examples[0].label == 1 and examples[1].label == 0
    assert examples[1].phrases == ()
