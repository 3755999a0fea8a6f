"""The examples of a benchmark run: its data set split, the training split
behind LAFA's pool and the hard-rationale size, and the run's batches."""

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext.attr.rationales import mean_rationale_length
from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.datasets.registry import DatasetSpec
from captum_nlp_ext.engine.metrics import METRICS
from captum_nlp_ext.engine.settings import DataSource
from captum_nlp_ext.engine.sources import open_source, Source
from captum_nlp_ext.huggingface import kept_word_ids, word_feature_mask

_LOG = logging.getLogger("captum_nlp_ext")


class RunData:
    """The examples of a run, their training split and their batches."""

    def __init__(
        self,
        source: Source,
        spec: DatasetSpec,
        split: str,
        examples: List[TextExample],
        data_dir: Optional[PathLike],
    ) -> None:
        self.source, self.spec, self.split = source, spec, split
        self.examples, self.data_dir = examples, data_dir
        #: The (line, problem) of each bad row of a file left out.
        self.skipped: List[Tuple[int, str]] = []

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def fields(self) -> Optional[Dict[str, Optional[str]]]:
        """A file's fields (None for other sources)."""
        return self.source.fields

    @classmethod
    def load(
        cls, source: DataSource, classes: Optional[Sequence[str]] = None
    ) -> "RunData":
        """The examples of ``source``; a file's labels are read as
        ``classes``."""
        opened = open_source(source, classes)
        n = source.n
        rows = list(opened.rows(range(n) if n is not None else None))
        examples = [r.example for r in rows if r.example is not None]
        skipped = [(r.line, str(r.problem)) for r in rows if r.problem is not None]
        where = opened.path or opened.name
        for line, problem in skipped:
            _LOG.warning("%s, line %d left out: %s", where, line, problem)
        if not examples:
            raise ValueError(f"`dataset` {where} holds no good rows.")
        # A file's or a list's examples are the whole data set: no training split.
        split = opened.split or ("all" if opened.fields is not None else "custom")
        spec = opened.spec or DatasetSpec(
            lambda *a: examples,
            (split,),
            None,
            rationales=any(e.rationale is not None for e in examples),
            word_scores=any(e.word_scores is not None for e in examples),
        )
        data = cls(opened, spec, split, examples, source.data_dir)
        data.skipped = skipped
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
        return self.source.reference_texts(pool)

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
