"""The examples of a benchmark run: its data set split, the training split
behind LAFA's pool and the hard-rationale size, and the run's batches."""

import logging
import os
from pathlib import Path
from typing import Any, cast, Dict, List, Mapping, Optional, Sequence, Tuple

from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext.attr.rationales import mean_rationale_length
from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.datasets.files import DatasetFile, FORMATS
from captum_nlp_ext.datasets.registry import DATASETS, DatasetSpec, named_split
from captum_nlp_ext.engine.metrics import METRICS
from captum_nlp_ext.engine.settings import DataSource
from captum_nlp_ext.huggingface import kept_word_ids, word_feature_mask

_LOG = logging.getLogger("captum_nlp_ext")


class RunData:
    """The examples of a run, their training split and their batches."""

    def __init__(
        self,
        name: str,
        spec: DatasetSpec,
        split: str,
        examples: List[TextExample],
        data_dir: Optional[PathLike],
    ) -> None:
        self.name, self.spec, self.split = name, spec, split
        self.examples, self.data_dir = examples, data_dir
        #: A file's fields, and the (line, problem) of each bad row left out.
        self.fields: Optional[Dict[str, Optional[str]]] = None
        self.skipped: List[Tuple[int, str]] = []

    @classmethod
    def load(
        cls, source: DataSource, classes: Optional[Sequence[str]] = None
    ) -> "RunData":
        """The examples of ``source``; a file's labels are read as
        ``classes``."""
        dataset, split, n = source.dataset, source.split, source.n
        fields, data_dir = source.fields, source.data_dir
        skip_bad_rows = source.skip_bad_rows
        if isinstance(dataset, (str, os.PathLike)) and str(dataset) not in DATASETS:
            return cls._from_file(dataset, split, n, fields, classes, skip_bad_rows)
        if fields:
            raise ValueError(f"`fields` are for files; {dataset!r} is a data set.")
        if not isinstance(dataset, str):
            examples = list(cast(Sequence[TextExample], dataset))[:n]
            if not examples or not all(isinstance(e, TextExample) for e in examples):
                raise ValueError(
                    "`dataset` must be a name or a non-empty sequence of TextExample."
                )
            spec = DatasetSpec(
                lambda *a: examples,
                (split or "custom",),
                None,
                rationales=any(e.rationale is not None for e in examples),
                word_scores=any(e.word_scores is not None for e in examples),
            )
            return cls("custom", spec, split or "custom", examples, data_dir)
        spec, split = named_split(dataset, split)
        return cls(dataset, spec, split, spec.load(split, data_dir, n), data_dir)

    @classmethod
    def _from_file(
        cls,
        path: PathLike,
        split: Optional[str],
        n: Optional[int],
        fields: Optional[Mapping[str, Optional[str]]],
        classes: Optional[Sequence[str]],
        skip_bad_rows: bool,
    ) -> "RunData":
        if Path(path).suffix.lower() not in FORMATS and not Path(path).is_dir():
            raise ValueError(
                f"`dataset` must be one of {sorted(DATASETS)}, or a .jsonl, .csv or "
                f".tsv file or a datasets folder; got {str(path)!r}."
            )
        file = DatasetFile(
            path,
            classes=classes,
            split=split,
            skip_bad_rows=skip_bad_rows,
            **dict(fields or {}),  # type: ignore[arg-type]
        )
        rows = list(file.rows(range(n) if n is not None else None))
        examples = [r.example for r in rows if r.example is not None]
        skipped = [(r.line, str(r.problem)) for r in rows if r.problem is not None]
        for line, problem in skipped:
            _LOG.warning("%s, line %d left out: %s", file.path, line, problem)
        if not examples:
            raise ValueError(f"`dataset` {file.path} holds no good rows.")
        spec = DatasetSpec(
            lambda *a: examples,
            (file.split or "all",),
            None,
            rationales=any(e.rationale is not None for e in examples),
        )
        data = cls(file.name, spec, file.split or "all", examples, None)
        data.fields, data.skipped = dict(file.fields), skipped
        return data

    def rationale_k(
        self, metrics: Sequence[str], tokenizer: Any, max_length: Optional[int]
    ) -> Tuple[Optional[int], str]:
        """Words of the hard rationale of token/IOU F1, and where it comes from:
        the training split's mean rationale length, its documents truncated as
        the examples are (a cut review holds fewer rationale words)."""
        if not any(METRICS[m].uses_k for m in metrics):
            return None, "unused"
        if self.spec.train_split is None:
            return None, "each example's own rationale length (no training split)"
        train = [
            e
            for e in self.spec.load(self.spec.train_split, self.data_dir, None)
            if e.rationale is not None
        ]
        rationales = [list(e.rationale or ()) for e in train]
        source = f"mean rationale length of {self.name} {self.spec.train_split}"
        if max_length is not None:
            encoding = tokenizer(
                [list(e.words) for e in train],
                is_split_into_words=True,
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            kept = kept_word_ids(word_feature_mask(encoding))
            rationales = [[r[u] for u in words] for r, words in zip(rationales, kept)]
            source += f", documents truncated to {max_length} tokens"
        k = max(1, round(mean_rationale_length(rationales)))
        return k, source

    def report_truncation(
        self, tokenizer: Any, max_length: Optional[int], window: Optional[int]
    ) -> None:
        """Log how many examples ``max_length`` cuts (their words past it are
        not explained)."""
        if max_length is None:
            return
        pairs = [e.text_pair_words for e in self.examples]
        has_pairs = any(p is not None for p in pairs)
        lengths = [
            len(ids)
            for ids in tokenizer(
                [list(e.words) for e in self.examples],
                [list(p or ()) for p in pairs] if has_pairs else None,
                is_split_into_words=True,
            )["input_ids"]
        ]
        cut = sum(1 for length in lengths if length > max_length)
        if cut:
            advice = "" if window is not None else " or `window` (whole documents)"
            _LOG.warning(
                "%d of %d examples are longer than `max_length` (%d tokens; the "
                "longest has %d) and are cut; raise `max_length`%s",
                cut,
                len(lengths),
                max_length,
                max(lengths),
                advice,
            )

    def reference_texts(self, pool: int) -> List[str]:
        if self.spec.train_split is None:
            raise ValueError(
                "methods `lafa` and `diffmask` need a training split (the reference "
                "pool, the probe's texts); "
                f"{self.name} has none."
            )
        train = self.spec.load(self.spec.train_split, self.data_dir, pool)
        if any(e.text_pair_words is not None for e in train):
            raise ValueError(
                "`lafa` and `diffmask` do not support text pairs (training texts)."
            )
        return [e.text for e in train]

    def length_order(self) -> List[int]:
        """Example indices by length (words), ties in data set order."""
        return sorted(
            range(len(self.examples)),
            key=lambda i: (_n_words(self.examples[i]), i),
        )

    def batches(self, size: int) -> List[List[int]]:
        """Example indices in batches of similar length (words)."""
        order = self.length_order()
        return [order[s : s + size] for s in range(0, len(order), size)]


def _n_words(example: TextExample) -> int:
    return len(example.words) + len(example.text_pair_words or ())
