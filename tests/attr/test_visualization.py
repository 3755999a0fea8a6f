import pytest
import torch
from captum.attr._utils.visualization import VisualizationDataRecord, visualize_text

from captum_nlp_ext.attr.visualization import (
    render_html,
    save_html,
    visualization_records,
    word_attributions,
    words_html,
)


def test_word_attributions_reduce_tokens_of_a_word():
    attributions = torch.tensor([[9.0, 1.0, -3.0, 2.0, 5.0]])
    units = torch.tensor([[-1, 0, 0, 1, 1]])
    assert word_attributions(attributions, units, "sum")[0].tolist() == [-2.0, 7.0]
    assert word_attributions(attributions, units, "mean")[0].tolist() == [-1.0, 3.5]
    assert word_attributions(attributions, units, "max_abs")[0].tolist() == [-3.0, 5.0]
    layer = attributions.unsqueeze(-1).repeat(1, 1, 2) / 2
    assert word_attributions(layer, units)[0].tolist() == [-2.0, 7.0]
    assert word_attributions(attributions, None)[0].tolist() == attributions[0].tolist()
    assert word_attributions(attributions, units)[0].tolist() == [-2.0, 7.0]
    shared = torch.tensor([[9.0, 1.5, 1.5, 2.0, 2.0]])
    assert word_attributions(shared, units)[0].tolist() == [1.5, 2.0]
    with pytest.raises(ValueError, match="`pool` must be one of"):
        word_attributions(attributions, units, "median")


def records():
    return visualization_records(
        [torch.tensor([0.5, -2.0]), torch.tensor([0.0, 0.0, 1.0])],
        [["<script>alert(1)</script>", "bad"], ["a", "&", "good"]],
        torch.tensor([0.9, 0.6]),
        [1, 0],
        [1, 1],
        [1, 0],
    )


def test_records_are_normalized_and_captum_accepts_them():
    recs = records()
    assert all(isinstance(r, VisualizationDataRecord) for r in recs)
    assert recs[0].word_attributions.tolist() == [0.25, -1.0]
    assert recs[0].attr_score == pytest.approx(-1.5)
    html = visualize_text(recs)
    assert "bad" in html.data


def test_html_escapes_text_and_is_written(tmp_path):
    page = render_html({"NLGP": records(), "IG <b>": records()}, title="a<b")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "IG &lt;b&gt;" in page and "a&lt;b" in page
    assert page.count("<tr>") == 1 + 2 * 2
    path = save_html(records(), tmp_path / "sub" / "page.html")
    assert (tmp_path / "sub" / "page.html").read_text().startswith("<!DOCTYPE html>")
    assert path.endswith("page.html")


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="`words` has 1 entries"):
        visualization_records(
            [torch.ones(2)] * 2, [["a", "b"]], [1, 1], [0, 0], [0, 0], [0, 0]
        )
    with pytest.raises(ValueError, match="2 words but 3 attributions"):
        visualization_records([torch.ones(3)], [["a", "b"]], [1], [0], [0], [0])
    with pytest.raises(ValueError, match="same examples"):
        render_html({"a": records(), "b": records()[:1]})


def test_words_html_scales_colours_boxes_rationale_and_escapes():
    out = words_html(["a&b", "<i>", "c"], [2.0, -1.0, 0.0], [0, 1, 0], scale=2.0)
    marks = out.split("</mark>")[:3]
    # Colours use score / scale; the tooltip keeps the raw score.
    assert "hsl(120, 75%, 50%)" in marks[0] and 'title="+2.000"' in marks[0]
    assert "hsl(0, 75%, 80%)" in marks[1] and 'title="-1.000"' in marks[1]
    assert ['class="rationale"' in m for m in marks] == [False, True, False]
    assert "a&amp;b" in out and "&lt;i&gt;" in out and "<i>" not in out
    with pytest.raises(ValueError, match="`rationale` has 1 entries"):
        words_html(["a", "b"], [0.0, 0.0], [1])
    with pytest.raises(ValueError, match="`scores` has 1 entries"):
        words_html(["a", "b"], [0.0])
