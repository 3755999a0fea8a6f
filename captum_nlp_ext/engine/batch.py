"""One batch of a run (a benchmark's, a corpus's, ``explain``'s): encoding,
prediction, gold, and the result records of a method on it.

The failure policy of every run: an example the model cannot handle (its
output is NaN or infinite: :data:`EXAMPLE_ERRORS`) is recorded as a failed
example and the run goes on; any other exception is a bug and ends the run."""

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.checks import NonFiniteError
from captum_nlp_ext._utils.memo import MemoizedForward
from captum_nlp_ext._utils.outputs import logits_to_probabilities
from captum_nlp_ext.attr.visualization import word_attributions
from captum_nlp_ext.datasets import centred_word_sentiment, TextExample
from captum_nlp_ext.engine.methods import MethodContext, METHODS
from captum_nlp_ext.engine.metrics import CURVE_PERCENTS, MetricBatch, METRICS
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    kept_word_ids,
    word_feature_mask,
)
from captum_nlp_ext.metrics import CostMeter

#: The exceptions that mean "this example cannot be explained", recorded as a
#: failed example; anything else propagates.
EXAMPLE_ERRORS: Tuple[Type[BaseException], ...] = (NonFiniteError,)


class Explainer:
    """Explains batches of a run's examples and scores the explanations.

    A method that fails on a batch because the model returned NaN or infinity
    (:class:`~captum_nlp_ext._utils.checks.NonFiniteError`) is run again on
    each example alone (results do not depend on the batch): the examples that
    still fail get a record with a ``"failed"`` message, the others their
    results, and the run goes on.
    """

    def __init__(
        self,
        model: Module,
        tokenizer: Any,
        examples: Sequence[TextExample],
        max_length: Optional[int],
        window: Optional[int],
        metrics: Sequence[str],
        k: Optional[int],
    ) -> None:
        self.model, self.tokenizer, self.examples = model, tokenizer, examples
        self.max_length, self.window = max_length, window
        self.metrics, self.k = metrics, k

    def batch(self, rows: List[int], numbers: Optional[List[int]] = None) -> "_Batch":
        """The examples ``rows`` encoded; ``numbers`` are their numbers in the
        data set (their seeds; default: ``rows``)."""
        return _Batch(
            self.model,
            self.tokenizer,
            self.examples,
            rows,
            self.max_length,
            self.window,
            numbers,
        )

    def records(
        self,
        batch: "_Batch",
        name: str,
        context: Mapping[str, Any],
        wanted: Sequence[int],
    ) -> List[Dict[str, Any]]:
        """Result records of method ``name`` for the examples ``wanted`` of
        ``batch``; ``context`` holds :class:`MethodContext`'s settings."""
        if not batch.failed:
            try:
                return self._records(batch, name, context, wanted)
            except EXAMPLE_ERRORS:
                if len(batch.rows) == 1:
                    raise
        out = []
        for index in wanted:
            single = batch if len(batch.rows) == 1 else self.batch([index])
            if index in single.failed:
                out.append(_failed(single, index, name, single.failed[index]))
                continue
            try:
                out += self._records(single, name, context, [index])
            except EXAMPLE_ERRORS as error:
                out.append(_failed(single, index, name, str(error)))
        return out

    def _records(
        self,
        batch: "_Batch",
        name: str,
        context: Mapping[str, Any],
        wanted: Sequence[int],
    ) -> List[Dict[str, Any]]:
        return batch.records(
            name,
            batch.context(**context),
            self.metrics,
            self.k,
            int(context["internal_batch_size"]),
            wanted,
        )


def _failed(batch: "_Batch", index: int, name: str, message: str) -> Dict[str, Any]:
    position = batch.rows.index(index)
    return {
        "example": index,
        "method": name,
        "words": batch.gold[position]["words"],
        "label": batch.examples[position].label,
        "failed": message,
    }


class _Batch:
    """One encoded batch, its prediction and its per-example gold."""

    def __init__(
        self,
        model: Module,
        tokenizer: Any,
        examples: Sequence[TextExample],
        rows: List[int],
        max_length: Optional[int],
        window: Optional[int],
        numbers: Optional[List[int]] = None,
    ) -> None:
        self.model, self.tokenizer, self.rows = model, tokenizer, rows
        self.numbers = list(rows) if numbers is None else numbers
        self.windowed = window is not None
        examples = [examples[i] for i in rows]
        pairs = [e.text_pair_words for e in examples]
        has_pairs = any(p is not None for p in pairs)
        encoding = tokenizer(
            [list(e.words) for e in examples],
            [list(p or ()) for p in pairs] if has_pairs else None,
            is_split_into_words=True,
            padding=True,
            truncation=max_length is not None,
            max_length=max_length,
            return_tensors="pt",
            # Documents past the model's positions are what windows are for;
            # the tokenizer's warning that they will fail would be wrong.
            verbose=not self.windowed,
        )
        device = _device(model)
        self.input_ids = encoding["input_ids"].to(device)
        self.attention_mask = encoding["attention_mask"].to(device)
        self.token_type_ids = encoding.get("token_type_ids") if has_pairs else None
        if self.token_type_ids is not None:
            self.token_type_ids = self.token_type_ids.to(device)
        self.feature_mask = word_feature_mask(encoding).to(device)
        self.forward = ClassifierForward(model)
        with torch.no_grad():
            logits = self.forward(*self._inputs())
        probabilities = logits_to_probabilities(logits.float())
        self.target = probabilities.argmax(-1)
        self.probability = probabilities.max(-1).values
        # Examples the model cannot score: every method fails on them.
        broken = ~torch.isfinite(logits.float()).all(-1)
        self.failed = {
            rows[p]: "The model's output is NaN or infinite for this example."
            for p in broken.nonzero().flatten().tolist()
        }
        self.gold = [_word_gold(e, m) for e, m in zip(examples, self.feature_mask)]
        self.examples = examples

    def _inputs(self) -> Tuple[Tensor, ...]:
        extra = () if self.token_type_ids is None else (self.token_type_ids,)
        return (self.input_ids, self.attention_mask, *extra)

    def context(self, **kwargs: Any) -> MethodContext:
        return MethodContext(
            self.model,
            self.tokenizer,
            self.input_ids,
            self.attention_mask,
            self.feature_mask,
            self.target,
            token_type_ids=self.token_type_ids,
            example_ids=torch.tensor(self.numbers),
            windowed=self.windowed,
            **kwargs,
        )

    def records(
        self,
        name: str,
        ctx: MethodContext,
        metrics: Sequence[str],
        k: Optional[int],
        internal_batch_size: int,
        wanted: Sequence[int],
    ) -> List[Dict[str, Any]]:
        """The result lines of method ``name`` for the examples ``wanted``."""
        with CostMeter(self.model) as meter:
            attributions, convergence = METHODS[name].explain(ctx)
        cost = _per_example_cost(meter, len(self.rows))
        scores = word_attributions(attributions, self.feature_mask)
        # One memo per (batch, method): its metrics share their distinct texts,
        # and a record does not depend on which methods ran before it (a
        # resumed run recomputes a method alone and must write the same values
        # to the last bit, which rows from passes of another shape do not give).
        batch = MetricBatch(
            MemoizedForward(self.forward),
            self.tokenizer,
            self.input_ids,
            ctx.additional_forward_args,
            self.feature_mask,
            self.target,
            attributions,
            rationales=[g["rationale"] for g in self.gold],
            word_scores=[g["word_scores"] for g in self.gold],
            k=k,
            internal_batch_size=internal_batch_size,
        )
        values: Dict[str, List[Optional[float]]] = {}
        curves: Dict[str, List[List[float]]] = {}
        with torch.no_grad():
            for metric in metrics:
                result = METRICS[metric].compute(batch)
                values[metric] = result.values
                curve = METRICS[metric].curve
                if result.curves is not None and curve:
                    curves[curve] = result.curves
        wanted_set = set(wanted)
        out = []
        for position, (index, example) in enumerate(zip(self.rows, self.examples)):
            if index not in wanted_set:
                continue
            gold = self.gold[position]
            example_curves = (
                {"percents": list(CURVE_PERCENTS)}
                | {key: c[position] for key, c in curves.items()}
                if curves
                else {}
            )
            out.append(
                {
                    "example": index,
                    "method": name,
                    "words": gold["words"],
                    "label": example.label,
                    "prediction": int(self.target[position]),
                    "target": int(self.target[position]),
                    "probability": float(self.probability[position]),
                    "rationale": gold["rationale"],
                    "scores": [_finite(s) for s in scores[position].tolist()],
                    "metrics": {m: v[position] for m, v in values.items()},
                    "curves": example_curves,
                    "cost": cost,
                }
            )
            if convergence is not None:
                out[-1]["convergence"] = _finite(float(convergence[position]))
        return out


def _device(model: Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return torch.device("cpu") if parameter is None else parameter.device


def _word_gold(example: TextExample, feature_mask: Tensor) -> Dict[str, Any]:
    """The example's words the model saw (in unit order) and their gold."""
    (present,) = kept_word_ids(feature_mask)
    words = list(example.words) + list(example.text_pair_words or ())
    rationale = None
    if example.rationale is not None:
        flags = list(example.rationale) + list(
            example.pair_rationale or [0] * len(example.text_pair_words or ())
        )
        rationale = [int(flags[u]) for u in present]
    word_scores = None
    if example.word_scores is not None:
        centred = centred_word_sentiment(example.word_scores)
        word_scores = [centred[u] for u in present]
    return {
        "words": [words[u] for u in present],
        "rationale": rationale,
        "word_scores": word_scores,
    }


def _finite(value: float) -> Optional[float]:
    return value if math.isfinite(value) else None


def _per_example_cost(meter: CostMeter, size: int) -> Dict[str, Any]:
    cost = meter.cost
    peak = cost.peak_memory_bytes
    return {
        "seconds": cost.seconds / size,
        "forward_rows": cost.forward_rows / size,
        "backward_rows": cost.backward_rows / size,
        "peak_memory_bytes": None if peak is None else peak / size,
        "memory_source": cost.memory_source,
        "tokens": cost.tokens / size,
        "padding_tokens": cost.padding_tokens / size,
    }
