import pytest
import torch
from transformers import BatchEncoding

from captum_nlp_ext.datasets import (
    align_word_labels,
    load_eraser_movies,
    load_esnli,
    load_imdb_sample,
    load_mr,
    load_sst,
    load_sst2,
    resolve_data_dir,
)
from captum_nlp_ext.datasets._paths import resolve_models_dir
from captum_nlp_ext.datasets.alignment import _word_ids_tensor

TOKENIZER_DIR = resolve_models_dir() / "minilm-sst2"
DATA = resolve_data_dir()
pytestmark = [
    pytest.mark.skipif(
        not (TOKENIZER_DIR / "tokenizer.json").is_file(),
        reason=f"tokenizer not found at {TOKENIZER_DIR} (set CAPTUM_NLP_MODELS)",
    ),
    pytest.mark.skipif(
        not (DATA / "sst2" / "dev.tsv").is_file(),
        reason=f"shared data not found under {DATA} (set CAPTUM_NLP_DATA)",
    ),
]
FILL = -7


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))
    assert tokenizer.is_fast
    return tokenizer


def _encode(tok, words, pair=None, **kwargs):
    if pair is None:
        return tok([list(words)], is_split_into_words=True, **kwargs)
    return tok([list(words)], [list(pair)], is_split_into_words=True, **kwargs)


def _pieces_by_value(tok, enc, aligned, batch_index=0):
    """Concatenate the sub-tokens that received each value."""
    out = {}
    tokens = enc.tokens(batch_index)
    for token, value in zip(tokens, aligned):
        if value != FILL:
            out[value] = out.get(value, "") + token.removeprefix("##")
    return out


def _check_word_index_alignment(tok, words, enc, aligned, batch_index=0):
    # Aligning word indices must give each word back its own sub-tokens: joined,
    # they spell the tokenizer's normalised form of that word.
    normalize = tok.backend_tokenizer.normalizer.normalize_str
    pieces = _pieces_by_value(tok, enc, aligned, batch_index)
    assert list(pieces) == sorted(pieces)  # words stay in order
    for index, spelled in pieces.items():
        expected = "".join(normalize(words[index]).split())
        if "[UNK]" not in spelled:
            assert spelled == expected, (index, words[index])
    special = [t in tok.all_special_tokens for t in enc.tokens(batch_index)]
    assert [v == FILL for v in aligned] == special
    return pieces


def test_sst2_example(tok):
    example = load_sst2("dev")[0]
    enc = _encode(tok, example.words)
    aligned = align_word_labels(enc, range(len(example.words)), fill=FILL)
    assert aligned[0] == FILL and aligned[-1] == FILL
    pieces = _check_word_index_alignment(tok, example.words, enc, aligned)
    assert len(pieces) == len(example.words)
    assert pieces[1] == "'s"  # one word, two sub-tokens: "'" and "s"
    assert aligned[2:4] == [1, 1]


def test_sst_tree_word_scores(tok):
    example = load_sst("dev")[0]  # It 's a lovely film ... (lovely = 3)
    enc = _encode(tok, example.words)
    aligned = align_word_labels(enc, example.word_scores, fill=float(FILL))
    tokens = enc.tokens(0)
    assert tokens.count("lovely") == 2
    for token, score in zip(tokens, aligned):
        if token == "lovely":
            assert score == 3.0
        elif token in ("[CLS]", "[SEP]"):
            assert score == float(FILL)
        else:
            assert score == 2.0
    index_aligned = align_word_labels(enc, range(len(example.words)), fill=FILL)
    _check_word_index_alignment(tok, example.words, enc, index_aligned)


def test_eraser_rationale_on_full_document(tok):
    example = load_eraser_movies("val")[0]
    enc = _encode(tok, example.words)  # no truncation: the evidence is late
    aligned = align_word_labels(enc, example.rationale, fill=FILL)
    word_ids = enc.word_ids(0)
    marked = {w for w, v in zip(word_ids, aligned) if v == 1}
    assert marked == {i for i, r in enumerate(example.rationale) if r}
    for word_id, value in zip(word_ids, aligned):
        if word_id is not None:
            assert value == example.rationale[word_id]
    spelled = " ".join(t for t, v in zip(enc.tokens(0), aligned) if v == 1).replace(
        " ##", ""
    )
    assert spelled == (
        "nothing really worth watching "
        "definitely the cinematic equivalent of a sleeper car"
    )
    index_aligned = align_word_labels(enc, range(len(example.words)), fill=FILL)
    _check_word_index_alignment(tok, example.words, enc, index_aligned)
    # Truncated, the same call just covers the words that survive.
    short = _encode(tok, example.words, truncation=True, max_length=32)
    cut = align_word_labels(short, example.rationale, fill=FILL)
    assert len(cut) == 32 and cut[0] == FILL and cut[-1] == FILL


def test_esnli_pair_offsets(tok):
    example = load_esnli()[0]
    enc = _encode(tok, example.words, example.text_pair_words)
    aligned = align_word_labels(
        enc, example.rationale, fill=FILL, pair_values=example.pair_rationale
    )
    tokens = enc.tokens(0)
    assert [t for t, v in zip(tokens, aligned) if v == 1] == [
        "two",
        "women",
        "embracing",
        "men",
        "fighting",
    ]
    assert [t for t, v in zip(tokens, aligned) if v == FILL] == [
        "[CLS]",
        "[SEP]",
        "[SEP]",
    ]
    # Unit ids: hypothesis word w is unit len(premise) + w.
    n_premise = len(example.words)
    units = _word_ids_tensor(enc, [n_premise])
    assert units.dtype == torch.long and units.shape == (1, len(tokens))
    assert units[0, tokens.index("men")].item() == n_premise + 1
    assert units[0, tokens.index("women")].item() == 1
    combined = list(example.rationale) + list(example.pair_rationale)
    by_unit = [combined[u] if u >= 0 else FILL for u in units[0].tolist()]
    assert by_unit == aligned
    assert sorted(set(units[0].tolist()) - {-1}) == list(
        range(n_premise + len(example.text_pair_words))
    )
    with pytest.raises(ValueError, match="pair_values"):
        align_word_labels(enc, example.rationale)
    with pytest.raises(ValueError, match="first_word_counts"):
        _word_ids_tensor(enc)


def test_esnli_padded_batch(tok):
    a, b = load_esnli(limit=2)
    enc = tok(
        [list(a.words), list(b.words)],
        [list(a.text_pair_words), list(b.text_pair_words)],
        is_split_into_words=True,
        padding=True,
    )
    shorter = min((0, 1), key=lambda i: sum(enc["attention_mask"][i]))
    ex = (a, b)[shorter]
    aligned = align_word_labels(
        enc, ex.rationale, batch_index=shorter, fill=FILL, pair_values=ex.pair_rationale
    )
    mask = enc["attention_mask"][shorter]
    assert len(aligned) == len(mask)
    assert all(v == FILL for v, m in zip(aligned, mask) if m == 0)
    units = _word_ids_tensor(enc, [len(a.words), len(b.words)])
    assert units.shape == (2, len(mask))
    assert (units[shorter][torch.tensor(mask) == 0] == -1).all()


def test_mr_example_with_split_words(tok):
    example = load_mr()[5331]  # the rock is destined to be the 21st century's ...
    enc = _encode(tok, example.words)
    aligned = align_word_labels(enc, range(len(example.words)), fill=FILL)
    pieces = _check_word_index_alignment(tok, example.words, enc, aligned)
    k = example.words.index("century's")
    assert pieces[k] == "century's"
    assert aligned.count(k) == 3  # century ' s


def test_imdb_example_with_words_the_tokenizer_drops(tok):
    example = next(e for e in load_imdb_sample("train") if e.example_id == "imdb-61")
    assert example.words[207] == "\x96"  # a cp1252 dash, a control character
    enc = _encode(tok, example.words)
    aligned = align_word_labels(enc, range(len(example.words)), fill=FILL)
    pieces = _check_word_index_alignment(tok, example.words, enc, aligned)
    assert 207 not in pieces  # no sub-token for it ...
    assert pieces[206] == "presented" and pieces[208] == "in"  # ... neighbours intact
    assert len(pieces) < len(example.words)


def test_value_count_mismatch_is_reported(tok):
    enc = _encode(tok, ["a", "good", "film"])
    with pytest.raises(ValueError, match="word 2 but word_values has 2 entries"):
        align_word_labels(enc, [1, 0])


def test_slow_tokenizer_encoding_is_refused():
    # What a Python (slow) tokenizer returns: ids, but no `tokenizers` encodings.
    enc = BatchEncoding({"input_ids": [[101, 2204, 102]]})
    with pytest.raises(TypeError, match="fast tokenizer"):
        align_word_labels(enc, [1])
    with pytest.raises(TypeError, match="fast tokenizer"):
        _word_ids_tensor(enc)
