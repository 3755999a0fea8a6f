import pytest

from captum_nlp_ext.datasets import (
    mask_to_spans,
    PhraseSpan,
    spans_to_mask,
    TextExample,
)


def test_lists_become_tuples_and_record_is_hashable():
    ex = TextExample(
        words=["a", "b"],
        label=1,
        example_id="x",
        rationale=[0, 1],
        word_scores=[1, 4],
        phrases=[(0, 2, 3)],
        meta={"k": [1]},
    )
    assert ex.words == ("a", "b") and ex.rationale == (0, 1)
    assert ex.word_scores == (1.0, 4.0) and isinstance(ex.word_scores[0], float)
    assert ex.phrases == (PhraseSpan(0, 2, 3),)
    assert ex.text == "a b" and ex.text_pair is None
    assert hash(ex) == hash(
        TextExample(["a", "b"], 1, "x", [0, 1], None, None, [1, 4], None, [(0, 2, 3)])
    )
    with pytest.raises(AttributeError):
        ex.label = 0  # type: ignore[misc]


def test_pair_fields():
    ex = TextExample(["p"], 0, "x", [1], ["h", "y"], [0, 1])
    assert ex.text_pair == "h y"
    with pytest.raises(ValueError, match="pair_rationale has 1 entries for 2"):
        TextExample(["p"], 0, "x", [1], ["h", "y"], [0])
    with pytest.raises(ValueError, match="without a pair"):
        TextExample(["p"], 0, "x", pair_rationale=[1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rationale": [1]}, "rationale has 1 entries for 2 words"),
        ({"rationale": [1, 2]}, "0/1"),
        ({"word_scores": [1.0]}, "word_scores has 1 entries"),
        ({"phrases": [(1, 1, 2)]}, "bad phrase span"),
        ({"phrases": [(0, 3, 2)]}, "bad phrase span"),
    ],
)
def test_inconsistent_records_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextExample(words=["a", "b"], label=0, example_id="x", **kwargs)


@pytest.mark.parametrize(
    "mask, spans",
    [
        ([], ()),
        ([0, 0], ()),
        ([1, 1, 1], ((0, 3),)),
        ([0, 1, 1, 0, 1], ((1, 3), (4, 5))),
        ([1, 0, 0, 1, 1, 0], ((0, 1), (3, 5))),
        ([True, False, True], ((0, 1), (2, 3))),
    ],
)
def test_mask_span_round_trip(mask, spans):
    assert mask_to_spans(mask) == spans
    assert spans_to_mask(spans, len(mask)) == tuple(int(m) for m in mask)


def test_spans_to_mask_unions_overlaps_and_checks_bounds():
    assert spans_to_mask([(0, 2), (1, 3)], 4) == (1, 1, 1, 0)
    for bad in [(2, 2), (3, 1), (-1, 1), (0, 5)]:
        with pytest.raises(ValueError, match="invalid"):
            spans_to_mask([bad], 4)


def test_a_bare_string_is_not_taken_for_words():
    with pytest.raises(TypeError, match="words must be a sequence"):
        TextExample(words="a good film", label=1, example_id="x")
    with pytest.raises(TypeError, match="text_pair_words"):
        TextExample(words=["a"], label=1, example_id="x", text_pair_words="b c")
