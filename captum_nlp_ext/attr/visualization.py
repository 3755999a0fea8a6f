"""Word attributions for display: Captum ``VisualizationDataRecord`` objects and an HTML
renderer that escapes text (captum #1226) and writes a file (captum #1130)."""

import os
from typing import List, Mapping, Optional, Sequence, Union

from captum.attr._utils.visualization import VisualizationDataRecord
from torch import Tensor

from captum_nlp_ext._utils.html import macro, render
from captum_nlp_ext._utils.text import WORDS_CSS
from captum_nlp_ext._utils.units import build_units, POOLS
from captum_nlp_ext._utils.validation import check_choice

__all__ = [
    "colour_legend_html",
    "render_html",
    "save_html",
    "visualization_records",
    "word_attributions",
    "words_html",
]


def word_attributions(
    attributions: Tensor, feature_mask: Optional[Tensor], pool: str = "auto"
) -> List[Tensor]:
    """Token attributions -> one score per word (unit) for each example.

    Args:
        attributions (Tensor): (batch, tokens) scores, or (batch, tokens, hidden)
                    layer attributions (summed over hidden first, Captum's usual
                    reduction for LayerIntegratedGradients).
        feature_mask (Tensor or None): (batch, tokens) unit ids, negative =
                    excluded; None makes every token a unit.
        pool (str): How a word's tokens combine: ``"sum"`` (token-level methods
                    such as Integrated Gradients), ``"mean"`` (methods whose tokens
                    share the unit's score, such as LayerNLGP: returns that score),
                    ``"max_abs"``, or ``"auto"``: the mean when every word's
                    tokens share one score, else the sum (the same rule as the
                    metrics).
                    Default: "auto"

    Returns:
        A list with one (words,) tensor per example, words in unit-id order.
    """
    check_choice("pool", pool, POOLS)
    if attributions.dim() == 3:
        attributions = attributions.sum(-1)
    if attributions.dim() != 2:
        raise ValueError(
            "`attributions` must have shape (batch, tokens) or (batch, tokens, "
            f"hidden); got {tuple(attributions.shape)}."
        )
    batch, tokens = attributions.shape
    units = build_units(feature_mask, batch, tokens, attributions.device)
    pooled = units.pool(attributions.detach(), pool)
    return [pooled[i, : int(units.count[i])] for i in range(batch)]


def visualization_records(
    attributions: Sequence[Tensor],
    words: Sequence[Sequence[str]],
    pred_probs: Union[Tensor, Sequence[float]],
    pred_classes: Sequence[Union[int, str]],
    true_classes: Sequence[Union[int, str]],
    attr_classes: Sequence[Union[int, str]],
    convergence: Optional[Union[Tensor, Sequence[float]]] = None,
    normalize: bool = True,
) -> List[VisualizationDataRecord]:
    """Build Captum ``VisualizationDataRecord`` objects, one per example.

    The records work with :func:`captum.attr.visualization.visualize_text` and
    with :func:`render_html`. Words are stored unescaped; :func:`render_html`
    escapes them.

    Args:
        attributions (sequence of Tensor): One (words,) tensor per example, e.g.
                    from :func:`word_attributions`.
        words (sequence of sequence of str): The words of each example.
        pred_probs (Tensor or sequence of float): Predicted class probability.
        pred_classes (sequence): Predicted class (index or name).
        true_classes (sequence): Gold class.
        attr_classes (sequence): The class the attributions explain.
        convergence (Tensor or sequence of float, optional): A method's
                    convergence estimate per example. Default: None
        normalize (bool): Divide each example's scores by their largest
                    magnitude, so that colours use Captum's [-1, 1] range; the
                    record's ``attr_score`` keeps the raw sum.
                    Default: True
    """
    n = len(attributions)
    for name, values in (
        ("words", words),
        ("pred_probs", pred_probs),
        ("pred_classes", pred_classes),
        ("true_classes", true_classes),
        ("attr_classes", attr_classes),
    ):
        if len(values) != n:
            raise ValueError(
                f"`{name}` has {len(values)} entries; `attributions` has {n}."
            )
    records = []
    for i in range(n):
        scores = attributions[i].detach().float().cpu()
        if len(words[i]) != scores.numel():
            raise ValueError(
                f"Example {i}: {len(words[i])} words but {scores.numel()} "
                "attributions."
            )
        shown = scores
        if normalize and scores.numel() and float(scores.abs().max()) > 0:
            shown = scores / scores.abs().max()
        records.append(
            VisualizationDataRecord(
                shown,
                float(pred_probs[i]),
                pred_classes[i],
                true_classes[i],
                attr_classes[i],
                float(scores.sum()),
                list(words[i]),
                float(convergence[i]) if convergence is not None else float("nan"),
            )
        )
    return records


def words_html(
    words: Sequence[str],
    scores: Sequence[float],
    rationale: Optional[Sequence[int]] = None,
    scale: Optional[float] = None,
) -> str:
    """One example's words as escaped ``<mark>`` elements coloured by score.

    Args:
        words (sequence of str): The words; escaped here.
        scores (sequence of float): One score per word; the tooltip shows it.
        rationale (sequence of int, optional): 0/1 per word; words marked 1 get
                    the class ``rationale`` (underlined and boxed by the page
                    style of :func:`render_html`). Default: None
        scale (float, optional): Colours use ``score / scale`` (e.g. the
                    example's largest magnitude), clipped to [-1, 1]; None
                    takes the scores as they are. Default: None

    Returns:
        An HTML fragment.
    """
    if len(scores) != len(words):
        raise ValueError(f"`scores` has {len(scores)} entries; `words` {len(words)}.")
    if rationale is not None and len(rationale) != len(words):
        raise ValueError(
            f"`rationale` has {len(rationale)} entries; `words` {len(words)}."
        )
    divisor = scale if scale else 1.0
    scores = [float(s) for s in scores]
    return macro("_words.html", "words", list(words), scores, rationale, divisor)


def colour_legend_html() -> str:
    """The colour legend (against, neutral, supports) as ``<mark>`` elements."""
    return macro("_words.html", "legend")


def render_html(
    records: Union[
        Sequence[VisualizationDataRecord],
        Mapping[str, Sequence[VisualizationDataRecord]],
    ],
    title: str = "Word attributions",
    notes: Sequence[str] = (),
) -> str:
    """A self-contained HTML page of word attributions, with every text escaped.

    Args:
        records (sequence of VisualizationDataRecord, or mapping): Records, or a
                    mapping from method name to records of the same examples in
                    the same order, shown side by side (one row per example and
                    method); examples are numbered from 1.
        title (str): Page title. Default: "Word attributions"
        notes (sequence of str): Lines shown above the table (the settings,
                    warnings), escaped. Default: ()

    Returns:
        The HTML document as a string.
    """
    if isinstance(records, Mapping):
        methods = {str(k): list(v) for k, v in records.items()}
    else:
        methods = {"": list(records)}
    lengths = {len(v) for v in methods.values()}
    if len(lengths) > 1:
        raise ValueError(
            "Every method in `records` must have records for the same examples; got "
            f"lengths {sorted(lengths)}."
        )
    side_by_side = list(methods) != [""]
    head = (["Example", "Method"] if side_by_side else ["Example"]) + [
        "True",
        "Predicted (prob.)",
        "Explained",
        "Sum",
        "Words",
    ]
    rows = []
    n_examples = lengths.pop() if lengths else 0
    for i in range(n_examples):
        for j, (method, recs) in enumerate(methods.items()):
            r = recs[i]
            cells = [str(i + 1) if j == 0 else ""]
            if side_by_side:
                cells.append(method)
            cells += [
                str(r.true_class),
                f"{r.pred_class} ({r.pred_prob:.2f})",
                str(r.attr_class),
                f"{r.attr_score:.3f}",
            ]
            words = [str(w) for w in r.raw_input_ids]
            scores = [float(s) for s in r.word_attributions.tolist()]
            rows.append({"cells": cells, "words": words, "scores": scores})
    return render(
        "explain.html",
        title=title,
        notes=list(notes),
        css=WORDS_CSS,
        head=head,
        rows=rows,
    )


def save_html(
    records: Union[
        Sequence[VisualizationDataRecord],
        Mapping[str, Sequence[VisualizationDataRecord]],
    ],
    path: Union[str, "os.PathLike[str]"],
    title: str = "Word attributions",
    notes: Sequence[str] = (),
) -> str:
    """Write :func:`render_html`'s page to ``path`` (folders created) and return
    the path."""
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_html(records, title, notes))
    return path
