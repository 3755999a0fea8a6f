"""The rows of one shard: its examples explained by every method.

A shard's examples are batched by length (as the benchmark batches its
examples), each batch encoded once and explained by each method in the run's
order. A method that fails on a batch because an example cannot be explained
(the run's failure policy: :data:`~captum_nlp_ext.engine.batch.EXAMPLE_ERRORS`)
is run again on each example alone; an example that still fails gets a row
with the error in ``failed`` (and empty lists), once: a resumed run finds its
shard written and does not retry it. Any other exception is a bug: the run
stops with it.
"""

import logging
from typing import Any, Dict, List, Mapping, Sequence

import torch

from captum_nlp_ext._utils.checks import NonFiniteError
from captum_nlp_ext.attr.visualization import word_attributions
from captum_nlp_ext.datasets.files import FileRow
from captum_nlp_ext.engine.batch import EXAMPLE_ERRORS, Explainer
from captum_nlp_ext.engine.methods import METHODS
from captum_nlp_ext.engine.settings import RunSettings

_LOG = logging.getLogger("captum_nlp_ext")
Row = Dict[str, Any]


class ShardExplainer:
    """Explains the rows of a shard with every method of the run."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        settings: RunSettings,
        resources: Mapping[str, Any],
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.settings, self.resources = settings, resources
        self.methods = settings.names

    def rows(self, shard: Sequence[FileRow], done: Any = None) -> List[Row]:
        """One row per (example, method), in (example number, method) order;
        ``done(n)`` is called as each batch of ``n`` examples is finished."""
        good = [r for r in shard if r.example is not None]
        out: Dict[int, List[Row]] = {
            r.number: [_failed_row(r, m, str(r.problem)) for m in self.methods]
            for r in shard
            if r.example is None
        }
        explainer = Explainer(
            self.model,
            self.tokenizer,
            [r.example for r in good if r.example is not None],
            self.settings.max_length,
            None,
            (),
            None,
        )
        order = sorted(range(len(good)), key=lambda i: (_length(good[i]), i))
        size = self.settings.batch_size
        for start in range(0, len(order), size):
            positions = order[start : start + size]
            rows = self._batch(explainer, [good[p] for p in positions], positions)
            out.update(rows)
            if done is not None:
                done(len(positions))
        if done is not None and len(good) < len(shard):
            done(len(shard) - len(good))
        return [row for number in sorted(out) for row in out[number]]

    def _batch(
        self, explainer: Explainer, rows: List[FileRow], positions: List[int]
    ) -> Dict[int, List[Row]]:
        numbers = [r.number for r in rows]
        batch = explainer.batch(positions, numbers)
        out: Dict[int, List[Row]] = {n: [] for n in numbers}
        for name in self.methods:
            results = self._method(explainer, batch, name, rows)
            for number, result in zip(numbers, results):
                out[number].append(result)
        return out

    def _method(
        self, explainer: Explainer, batch: Any, name: str, rows: List[FileRow]
    ) -> List[Row]:
        context = batch.context(**self.settings.context(name, self.resources))
        try:
            if batch.failed:
                message = next(iter(batch.failed.values()))
                raise NonFiniteError(message, list(batch.failed))
            attributions = METHODS[name].attribute(context)
        except EXAMPLE_ERRORS as error:
            if len(rows) == 1:
                _LOG.debug("%s failed on example %d", name, rows[0].number)
                return [_failed_row(rows[0], name, _message(error))]
            singles = []
            for position, row in zip(batch.rows, rows):
                single = explainer.batch([position], [row.number])
                singles += self._method(explainer, single, name, [row])
            return singles
        return _rows(batch, name, rows, attributions, self.tokenizer)


def _rows(
    batch: Any,
    name: str,
    rows: List[FileRow],
    attributions: torch.Tensor,
    tokenizer: Any,
) -> List[Row]:
    words = word_attributions(attributions, batch.feature_mask)
    out = []
    for position, row in enumerate(rows):
        example = row.example
        assert example is not None
        length = int(batch.attention_mask[position].sum())
        ids = batch.input_ids[position, :length].tolist()
        out.append(
            {
                "example": row.number,
                "example_id": example.example_id,
                "method": name,
                "words": batch.gold[position]["words"],
                "word_scores": words[position].tolist(),
                "tokens": tokenizer.convert_ids_to_tokens(ids),
                "token_scores": attributions[position, :length].tolist(),
                "prediction": int(batch.target[position]),
                "probability": float(batch.probability[position]),
                "label": example.label,
                "failed": None,
            }
        )
    return out


def _failed_row(row: FileRow, method: str, message: str) -> Row:
    example = row.example
    return {
        "example": row.number,
        "example_id": row.id,
        "method": method,
        "words": [],
        "word_scores": [],
        "tokens": [],
        "token_scores": [],
        "prediction": None,
        "probability": None,
        "label": None if example is None else example.label,
        "failed": message,
    }


def _message(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def _length(row: FileRow) -> int:
    example = row.example
    assert example is not None
    return len(example.words) + len(example.text_pair_words or ())
