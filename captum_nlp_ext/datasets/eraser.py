"""ERASER Movie Reviews: gold rationales in, predicted rationales out.

Reading follows ERASER's conventions: a document is ``docs/<docid>``, one
sentence a line, tokens separated by single spaces; ``start_token`` (inclusive)
and ``end_token`` (exclusive) index the tokens of the whole document. Labels:
``NEG`` = 0, ``POS`` = 1 (:data:`ERASER_MOVIES_LABELS`).

Writing produces ERASER's results JSONL (one line per annotation), as read by
the benchmark's ``rationale_benchmark/metrics.py``::

    {"annotation_id": str,
     "rationales": [{"docid": str,
                     "hard_rationale_predictions": [{"start_token": int,
                                                     "end_token": int}, ...],
                     "soft_rationale_predictions": [float per token],
                     "soft_sentence_predictions": [float per sentence]}],
     "classification": str,
     "classification_scores": {label: probability},
     "comprehensiveness_classification_scores": {label: probability},
     "sufficiency_classification_scores": {label: probability},
     "thresholded_scores": [{"threshold": float, ...}],
     "tokens_to_flip": int}

Every key but ``annotation_id`` and ``rationales`` is optional; ERASER requires
an optional key to be present on every line or on none, and ``classification``
together with ``classification_scores``.
"""

import json
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Iterable, Mapping, Optional, Sequence

from ._paths import PathLike, require_file
from .records import _check_limit, _check_split, mask_to_spans, TextExample

ERASER_MOVIES_LABELS: tuple[str, ...] = ("NEG", "POS")

Span = tuple[int, int]


def _read_document(path: Any) -> tuple[list[str], list[Span]]:
    # Mirrors ERASER's own reader (strip lines, drop empty ones, split on " ")
    # so that token indices agree with the benchmark's.
    with open(path, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle.read().split("\n")]
    words: list[str] = []
    sentences: list[Span] = []
    for line in lines:
        if not line:
            continue
        tokens = [t for t in line.split(" ") if t]
        sentences.append((len(words), len(words) + len(tokens)))
        words.extend(tokens)
    return words, sentences


def load_eraser_movies(
    split: str = "val", data_dir: Optional[PathLike] = None, limit: Optional[int] = None
) -> list[TextExample]:
    """Load ERASER Movie Reviews (``eraser_movies/{split}.jsonl`` + ``docs/``).

    ``words`` are all whitespace tokens of the document, across its sentence
    lines. ``rationale`` is 1 on every token covered by any evidence span
    ``[start_token, end_token)``, or None for an annotation without evidences
    (one in ``train``: ``posR_161.txt``). Each span's ``text`` is checked
    against the document. ``example_id`` is the ``annotation_id``.

    ``meta`` holds ``docid`` (str), ``evidence_spans`` (tuple of ``(start,
    end)``, in file order), ``sentence_spans`` (tuple of ``(start, end)`` token
    ranges, one per line of the document) and ``query`` (str).

    Args:
        split (str, optional): ``"val"`` (200 reviews) or ``"train"`` (1,600).
            Default: ``"val"``.
        data_dir (str or os.PathLike, optional): Data folder. Default: None
            (``CAPTUM_NLP_DATA`` or ``../shared/data``).
        limit (int, optional): Keep only the first ``limit`` annotations.
            Default: None.

    Returns:
        list of TextExample: In file order.

    Raises:
        FileNotFoundError: The JSONL or a document is missing (the message names
            it and ``CAPTUM_NLP_DATA``).
        ValueError: Bad split, an unknown class, an evidence in another document
            or an evidence whose text disagrees with the document.
    """
    _check_split(split, ("val", "train"))
    _check_limit(limit)
    path = require_file(data_dir, f"eraser_movies/{split}.jsonl")
    examples: list[TextExample] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and len(examples) >= limit:
                break
            if line.strip():
                examples.append(_annotation_to_example(json.loads(line), data_dir))
    return examples


def _annotation_to_example(
    annotation: Mapping[str, Any], data_dir: Optional[PathLike]
) -> TextExample:
    ann_id = annotation["annotation_id"]
    evidences = list(chain.from_iterable(annotation["evidences"]))
    # Movie reviews have one document per annotation, named like the annotation.
    docid = evidences[0]["docid"] if evidences else ann_id
    words, sentences = _read_document(
        require_file(data_dir, f"eraser_movies/docs/{docid}")
    )
    spans: list[Span] = []
    for evidence in evidences:
        start, end = evidence["start_token"], evidence["end_token"]
        if evidence["docid"] != docid:
            raise ValueError(f"{ann_id}: evidences span several documents")
        if " ".join(words[start:end]) != evidence["text"]:
            raise ValueError(
                f"{ann_id}: evidence [{start}, {end}) reads "
                f"{' '.join(words[start:end])!r}, expected {evidence['text']!r}"
            )
        spans.append((start, end))
    classification = annotation["classification"]
    if classification not in ERASER_MOVIES_LABELS:
        raise ValueError(f"{ann_id}: unknown classification {classification!r}")
    rationale: Optional[list[int]] = None
    if spans:
        rationale = [0] * len(words)
        for start, end in spans:
            rationale[start:end] = [1] * (end - start)
    return TextExample(
        words=words,
        label=ERASER_MOVIES_LABELS.index(classification),
        example_id=ann_id,
        rationale=rationale,
        meta={
            "docid": docid,
            "evidence_spans": tuple(spans),
            "sentence_spans": tuple(sentences),
            "query": annotation.get("query"),
        },
    )


@dataclass(frozen=True)
class DocumentRationale:
    """Predicted rationale for one document of an annotation.

    Args:
        docid (str): The document.
        hard_spans (tuple of (int, int), optional): Selected token spans,
            ``end`` exclusive, sorted and non-overlapping. Default: ().
        soft_scores (tuple of float, optional): One score per document token
            (``soft_rationale_predictions``). Default: None.
        soft_sentence_scores (tuple of float, optional): One score per sentence
            (``soft_sentence_predictions``). Default: None.
    """

    docid: str
    hard_spans: tuple[Span, ...] = ()
    soft_scores: Optional[Sequence[float]] = None  # stored as a tuple
    soft_sentence_scores: Optional[tuple[float, ...]] = None

    def __post_init__(self) -> None:
        spans = tuple((int(s), int(e)) for s, e in self.hard_spans)
        previous_end = 0
        for start, end in spans:
            # ERASER rejects overlapping hard predictions.
            if start < previous_end or start >= end:
                raise ValueError(
                    f"{self.docid}: hard spans must be non-empty, sorted and "
                    f"non-overlapping, got {spans}"
                )
            previous_end = end
        object.__setattr__(self, "hard_spans", spans)
        for name in ("soft_scores", "soft_sentence_scores"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(float(v) for v in value))


@dataclass(frozen=True)
class EraserPrediction:
    """One line of ERASER's results JSONL.

    Args:
        annotation_id (str): The annotation predicted for.
        rationales (tuple of DocumentRationale): One per document.
        classification (str, optional): Predicted class name. Default: None.
        classification_scores (Mapping[str, float], optional): Normalised class
            probabilities; required with ``classification``. Default: None.
        comprehensiveness_classification_scores (Mapping[str, float], optional):
            Probabilities with the rationale removed. Default: None.
        sufficiency_classification_scores (Mapping[str, float], optional):
            Probabilities with only the rationale kept. Default: None.
        thresholded_scores (tuple of Mapping, optional): Per-threshold
            ``{"threshold", "comprehensiveness_classification_scores",
            "sufficiency_classification_scores"}`` (for AOPC). Default: None.
        tokens_to_flip (int, optional): Tokens removed before the prediction
            flipped. Default: None.
    """

    annotation_id: str
    rationales: tuple[DocumentRationale, ...]
    classification: Optional[str] = None
    classification_scores: Optional[Mapping[str, float]] = field(
        default=None, hash=False
    )
    comprehensiveness_classification_scores: Optional[Mapping[str, float]] = field(
        default=None, hash=False
    )
    sufficiency_classification_scores: Optional[Mapping[str, float]] = field(
        default=None, hash=False
    )
    thresholded_scores: Optional[tuple[Mapping[str, Any], ...]] = field(
        default=None, hash=False
    )
    tokens_to_flip: Optional[int] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rationales", tuple(self.rationales))
        if (self.classification is None) != (self.classification_scores is None):
            raise ValueError(
                f"{self.annotation_id}: ERASER needs classification and "
                "classification_scores together"
            )
        for name in _SCORE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(
                    self, name, {str(k): float(v) for k, v in value.items()}
                )
        if self.thresholded_scores is not None:
            object.__setattr__(
                self, "thresholded_scores", tuple(self.thresholded_scores)
            )

    def to_json(self) -> dict[str, Any]:
        """Return the ERASER JSON object (optional keys only when set)."""
        rationales = []
        for doc in self.rationales:
            entry: dict[str, Any] = {
                "docid": doc.docid,
                "hard_rationale_predictions": [
                    {"start_token": s, "end_token": e} for s, e in doc.hard_spans
                ],
            }
            if doc.soft_scores is not None:
                entry["soft_rationale_predictions"] = list(doc.soft_scores)
            if doc.soft_sentence_scores is not None:
                entry["soft_sentence_predictions"] = list(doc.soft_sentence_scores)
            rationales.append(entry)
        out: dict[str, Any] = {
            "annotation_id": self.annotation_id,
            "rationales": rationales,
        }
        for name in _OPTIONAL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if name == "thresholded_scores" else value
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "EraserPrediction":
        """Build from one parsed line of an ERASER results JSONL."""
        rationales = tuple(
            DocumentRationale(
                docid=r["docid"],
                hard_spans=tuple(
                    (h["start_token"], h["end_token"])
                    for h in r.get("hard_rationale_predictions") or ()
                ),
                soft_scores=r.get("soft_rationale_predictions"),
                soft_sentence_scores=r.get("soft_sentence_predictions"),
            )
            for r in obj["rationales"]
        )
        return cls(
            annotation_id=obj["annotation_id"],
            rationales=rationales,
            **{name: obj.get(name) for name in _OPTIONAL_FIELDS},
        )


_SCORE_FIELDS = (
    "classification_scores",
    "comprehensiveness_classification_scores",
    "sufficiency_classification_scores",
)
_OPTIONAL_FIELDS = (
    "classification",
    *_SCORE_FIELDS,
    "thresholded_scores",
    "tokens_to_flip",
)


def make_eraser_prediction(
    example: TextExample,
    soft_scores: Optional[Sequence[float]] = None,
    hard_rationale: Optional[Sequence[Any]] = None,
    class_probabilities: Optional[Sequence[float]] = None,
    label_names: Sequence[str] = ERASER_MOVIES_LABELS,
) -> EraserPrediction:
    """Build the prediction for an example loaded by :func:`load_eraser_movies`.

    Args:
        example (TextExample): The annotation (``meta["docid"]`` is used when
            present, else ``example_id``).
        soft_scores (Sequence of float, optional): One attribution per word of
            ``example.words``. Default: None.
        hard_rationale (Sequence, optional): 0/1 (or bool) per word; converted to
            spans with :func:`mask_to_spans`. Default: None (no hard spans).
        class_probabilities (Sequence of float, optional): Model probabilities
            indexed by class; sets ``classification`` to the arg-max's name.
            Default: None.
        label_names (Sequence of str, optional): Names of the class indices.
            Default: ``("NEG", "POS")``.

    Returns:
        EraserPrediction: Ready for :func:`write_eraser_jsonl`.

    Raises:
        ValueError: A per-word sequence has the wrong length, or the
            probabilities do not match ``label_names`` or do not sum to 1.
    """
    n = len(example.words)
    for name, values in (
        ("soft_scores", soft_scores),
        ("hard_rationale", hard_rationale),
    ):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries for {n} words")
    classification = scores = None
    if class_probabilities is not None:
        probs = [float(p) for p in class_probabilities]
        if len(probs) != len(label_names):
            raise ValueError(f"{len(probs)} probabilities for labels {label_names}")
        if abs(sum(probs) - 1.0) > 1e-3:
            raise ValueError(f"ERASER needs normalised probabilities, got {probs}")
        scores = dict(zip(label_names, probs))
        classification = label_names[max(range(len(probs)), key=probs.__getitem__)]
    document = DocumentRationale(
        docid=str(example.meta.get("docid", example.example_id)),
        hard_spans=mask_to_spans(hard_rationale) if hard_rationale is not None else (),
        soft_scores=soft_scores,
    )
    return EraserPrediction(
        annotation_id=example.example_id,
        rationales=(document,),
        classification=classification,
        classification_scores=scores,
    )


def write_eraser_jsonl(path: PathLike, predictions: Iterable[EraserPrediction]) -> None:
    """Write predictions as ERASER results JSONL (one annotation a line).

    Args:
        path (str or os.PathLike): Output file (overwritten).
        predictions (Iterable of EraserPrediction): One per annotation.

    Raises:
        ValueError: An annotation appears twice, or an optional field is set on
            some predictions but not all (ERASER rejects both).
    """
    objs = [p.to_json() for p in predictions]
    seen: set[str] = set()
    for obj in objs:
        if obj["annotation_id"] in seen:
            raise ValueError(f"annotation {obj['annotation_id']} appears twice")
        seen.add(obj["annotation_id"])
    presence = {name: [name in obj for obj in objs] for name in _OPTIONAL_FIELDS}
    for name in ("soft_rationale_predictions", "soft_sentence_predictions"):
        presence[name] = [any(name in r for r in obj["rationales"]) for obj in objs]
    for name, flags in presence.items():
        count = sum(flags)
        if 0 < count < len(objs):
            raise ValueError(
                f"'{name}' is set on {count} of {len(objs)} predictions; ERASER "
                "needs it on all or none"
            )
    with open(path, "w", encoding="utf-8") as handle:
        for obj in objs:
            handle.write(json.dumps(obj, sort_keys=True) + "\n")


def read_eraser_jsonl(path: PathLike) -> list[EraserPrediction]:
    """Read an ERASER results JSONL written by :func:`write_eraser_jsonl` or others.

    Args:
        path (str or os.PathLike): The file.

    Returns:
        list of EraserPrediction: In file order.
    """
    with open(path, encoding="utf-8") as handle:
        return [EraserPrediction.from_json(json.loads(x)) for x in handle if x.strip()]
