"""Registry of the benchmark's metrics: name -> how to compute it for a batch.

Every metric is one of :mod:`captum_nlp_ext.metrics`, called on a batch of
attributions and returning one value per example (None where undefined), so a
result never depends on the batch an example was in. A new metric joins the
benchmark with :func:`register_metric`.

Faithfulness metrics remove words by replacing their tokens with [PAD]
(positions and attention kept), the protocol of DIG and SIG; the deletion and
insertion curves are sampled at ferret's 0, 10, ..., 100% of the words.
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

from captum_nlp_ext._utils.batching import DEFAULT_INTERNAL_BATCH_SIZE
from captum_nlp_ext.metrics import (
    aopc_comprehensiveness,
    aopc_sufficiency,
    auprc,
    deletion_curve,
    delta_accuracy,
    ERASER_PERCENTS,
    FERRET_PERCENTS,
    insertion_curve,
    iou_f1,
    log_odds,
    MetricResult,
    Removal,
    token_f1,
    word_score_correlation,
)

GROUPS = ("faithfulness", "plausibility")
NEEDS = ("rationale", "word_scores")
CURVE_PERCENTS: Tuple[float, ...] = (0.0,) + FERRET_PERCENTS
DELTA_ACCURACY_WORDS: Tuple[int, ...] = (1, 2, 3, 5)
DELTA_ACCURACY_PERCENTS: Tuple[float, ...] = (10.0, 20.0)


@dataclass(frozen=True)
class MetricBatch:
    """One batch of explained examples, as the metrics see it.

    Attributes:
        forward (Callable): The classifier, returning (batch, classes) logits.
        tokenizer (PreTrainedTokenizerBase): Its tokenizer ([PAD] id).
        input_ids (Tensor): (batch, tokens).
        additional_forward_args (tuple): The attention mask (and token types).
        feature_mask (Tensor): (batch, tokens) word ids, -1 excluded.
        target (Tensor): (batch,) the explained class.
        attributions (Tensor): (batch, tokens) token attributions.
        rationales (list, optional): Per example, 0/1 per word (the words of
                    ``feature_mask`` in order), or None. Default: None
        word_scores (list, optional): Per example, a gold importance per word,
                    or None. Default: None
        k (int, optional): Words of the hard rationale of token and IOU F1.
                    Default: None (each example's rationale length)
        internal_batch_size (int): Rows per model pass. Default: 64
    """

    forward: Callable[..., Tensor]
    tokenizer: Any
    input_ids: Tensor
    additional_forward_args: Tuple[Tensor, ...]
    feature_mask: Tensor
    target: Tensor
    attributions: Tensor
    rationales: Optional[List[Optional[List[int]]]] = None
    word_scores: Optional[List[Optional[List[float]]]] = None
    k: Optional[int] = None
    internal_batch_size: int = DEFAULT_INTERNAL_BATCH_SIZE

    def faithfulness_args(self) -> Dict[str, Any]:
        return dict(
            feature_mask=self.feature_mask,
            target=self.target,
            additional_forward_args=self.additional_forward_args,
            removal=Removal("pad", tokenizer=self.tokenizer),
            internal_batch_size=self.internal_batch_size,
        )


@dataclass(frozen=True)
class MetricValues:
    """A metric's values for a batch.

    Attributes:
        values (list): One float per example, None where undefined.
        curves (list, optional): For curve metrics, each example's curve (the
                    probability at each of :data:`CURVE_PERCENTS`).
    """

    values: List[Optional[float]]
    curves: Optional[List[List[float]]] = None


@dataclass(frozen=True)
class MetricSpec:
    """How to compute one metric for a batch.

    Attributes:
        compute (Callable): ``MetricBatch -> MetricValues``.
        description (str): One line for ``run.json`` and reports; says the
                    protocol (k, removal).
        higher_is_better (bool): The direction of the metric.
        group (str): ``"faithfulness"`` or ``"plausibility"``.
        needs (str, optional): ``"rationale"`` or ``"word_scores"``: the gold
                    the data set must have. Default: None
        curve (str, optional): The key of its curve in a result's ``curves``.
                    Default: None
        uses_k (bool): Whether it selects the top-k words (token and IOU F1),
                    k being recorded in ``run.json``. Default: False
    """

    compute: Callable[[MetricBatch], MetricValues]
    description: str
    higher_is_better: bool
    group: str
    needs: Optional[str] = None
    curve: Optional[str] = None
    uses_k: bool = False

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"`group` must be one of {GROUPS}; got {self.group!r}")
        if self.needs is not None and self.needs not in NEEDS:
            raise ValueError(f"`needs` must be one of {NEEDS}; got {self.needs!r}")

    def record(self, **settings: Any) -> Dict[str, Any]:
        """The metric's entry of ``run.json``'s ``metric_settings``."""
        entry: Dict[str, Any] = {
            "description": self.description,
            "higher_is_better": self.higher_is_better,
            "group": self.group,
        }
        if settings:
            entry["settings"] = settings
        return entry


METRICS: Dict[str, MetricSpec] = {}


def register_metric(name: str, spec: MetricSpec) -> None:
    """Make a metric available to the benchmark under ``name``."""
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"`spec` must be a MetricSpec; got {type(spec).__name__}.")
    METRICS[name] = spec


def default_metrics(has_rationales: bool, has_word_scores: bool) -> List[str]:
    """The registered metrics a data set with this gold supports."""
    available = {None, "rationale" if has_rationales else None}
    if has_word_scores:
        available.add("word_scores")
    return [name for name, spec in METRICS.items() if spec.needs in available]


def check_metrics(
    names: Sequence[str], has_rationales: bool, has_word_scores: bool
) -> List[str]:
    """Validate metric names against the registry and the data set's gold."""
    names = list(names)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(
            f"`metrics` has unknown names {unknown}; known: {sorted(METRICS)}."
        )
    gold = {"rationale": has_rationales, "word_scores": has_word_scores}
    needs = {m: METRICS[m].needs for m in names}
    missing = [m for m, need in needs.items() if need and not gold[need]]
    if missing:
        lacking = sorted({str(needs[m]) for m in missing})
        raise ValueError(
            f"`metrics` {missing} need gold this data set does not have "
            f"({', '.join(lacking)})."
        )
    return names


def _values(result: MetricResult) -> List[Optional[float]]:
    return [None if v != v else float(v) for v in result.per_example.tolist()]


def _faithfulness(
    function: Callable[..., MetricResult], **kwargs: Any
) -> Callable[[MetricBatch], MetricValues]:
    def compute(batch: MetricBatch) -> MetricValues:
        result = function(
            batch.forward,
            batch.input_ids,
            batch.attributions,
            **kwargs,
            **batch.faithfulness_args(),
        )
        return MetricValues(_values(result))

    return compute


def _curve(function: Callable[..., MetricResult]) -> Callable[..., MetricValues]:
    def compute(batch: MetricBatch) -> MetricValues:
        result = function(
            batch.forward,
            batch.input_ids,
            batch.attributions,
            percents=FERRET_PERCENTS,
            **batch.faithfulness_args(),
        )
        curves = [y.tolist() for _, y in result.details["curves"]]
        return MetricValues(_values(result), curves)

    return compute


def _delta_accuracy(batch: MetricBatch) -> MetricValues:
    # The explained class is the prediction, so removing words can only flip
    # it: per example, the share of MASE's six k that flip the prediction.
    arguments = batch.faithfulness_args()
    del arguments["target"]  # it compares predicted classes, whatever the target
    results = delta_accuracy(
        batch.forward,
        batch.input_ids,
        batch.attributions,
        words=DELTA_ACCURACY_WORDS,
        percents=DELTA_ACCURACY_PERCENTS,
        **arguments,
    )
    flips = [r.per_example for key, r in results.items() if key.startswith("pred")]
    return MetricValues([float(v) for v in torch.stack(flips).mean(0).tolist()])


def _plausibility(
    function: Callable[..., MetricResult], uses_k: bool = False
) -> Callable[[MetricBatch], MetricValues]:
    def compute(batch: MetricBatch) -> MetricValues:
        gold = [
            r if r is not None else [0] * int((m >= 0).sum())
            for r, m in zip(batch.rationales or [], batch.feature_mask)
        ]
        extra = {"k": batch.k} if uses_k else {}
        result = function(
            batch.attributions, gold, feature_mask=batch.feature_mask, **extra
        )
        return MetricValues(_values(result))

    return compute


def _word_scores(batch: MetricBatch) -> MetricValues:
    gold = [
        s if s is not None else [float("nan")] * int((m >= 0).sum())
        for s, m in zip(batch.word_scores or [], batch.feature_mask)
    ]
    result = word_score_correlation(
        batch.attributions, gold, feature_mask=batch.feature_mask
    )
    return MetricValues(_values(result))


register_metric(
    "comprehensiveness",
    MetricSpec(
        _faithfulness(aopc_comprehensiveness, percents=ERASER_PERCENTS),
        "AOPC comprehensiveness: probability drop when the top k% words are "
        "replaced by [PAD], mean over ERASER's k = 1, 5, 10, 20, 50",
        True,
        "faithfulness",
    ),
)
register_metric(
    "sufficiency",
    MetricSpec(
        _faithfulness(aopc_sufficiency, percents=ERASER_PERCENTS),
        "AOPC sufficiency: probability drop when all but the top k% words are "
        "replaced by [PAD], mean over ERASER's k = 1, 5, 10, 20, 50",
        False,
        "faithfulness",
    ),
)
register_metric(
    "log_odds",
    MetricSpec(
        _faithfulness(log_odds, percent=20.0),
        "Log-odds: log p(x without top 20% words) - log p(x), words -> [PAD]",
        False,
        "faithfulness",
    ),
)
register_metric(
    "delta_accuracy",
    MetricSpec(
        _delta_accuracy,
        "Delta Accuracy (MASE's metric, our reading): share of predictions "
        "flipped when the top k words are replaced by [PAD], mean over k = 1, "
        "2, 3, 5 words and 10, 20% of the words",
        True,
        "faithfulness",
    ),
)
register_metric(
    "deletion_auc",
    MetricSpec(
        _curve(deletion_curve),
        "Deletion AUC: probability as the top words are replaced by [PAD], "
        "0-100% of the words in steps of 10%",
        False,
        "faithfulness",
        curve="deletion",
    ),
)
register_metric(
    "insertion_auc",
    MetricSpec(
        _curve(insertion_curve),
        "Insertion AUC: probability as the top words are put back into the "
        "all-[PAD] input, 0-100% of the words in steps of 10%",
        True,
        "faithfulness",
        curve="insertion",
    ),
)
register_metric(
    "auprc",
    MetricSpec(
        _plausibility(auprc),
        "AUPRC of the word scores against the human rationale (average precision)",
        True,
        "plausibility",
        needs="rationale",
    ),
)
register_metric(
    "token_f1",
    MetricSpec(
        _plausibility(token_f1, uses_k=True),
        "Token F1 of the top-k words against the human rationale",
        True,
        "plausibility",
        needs="rationale",
        uses_k=True,
    ),
)
register_metric(
    "iou_f1",
    MetricSpec(
        _plausibility(iou_f1, uses_k=True),
        "IOU F1 (ERASER, IOU >= 0.5) of the top-k word spans against the "
        "human rationale",
        True,
        "plausibility",
        needs="rationale",
        uses_k=True,
    ),
)
register_metric(
    "word_score_correlation",
    MetricSpec(
        _word_scores,
        "Pearson correlation of |word score| with SST's |centred word "
        "sentiment| (LAFA's protocol)",
        True,
        "plausibility",
        needs="word_scores",
    ),
)


def metric_settings(
    names: Sequence[str], k: Optional[int], k_source: str
) -> Mapping[str, Dict[str, Any]]:
    """``run.json``'s ``metric_settings`` for these metrics."""
    out = {}
    for name in names:
        spec = METRICS[name]
        out[name] = (
            spec.record(k=k, k_source=k_source) if spec.uses_k else spec.record()
        )
    return out
