"""Base scores of reference texts, computed once and kept with their index.

LAFA's neighbours come from a fixed pool, and a pool text's base scores
depend only on the text, the class explained and the base method's settings,
not on the input whose neighbour it is. With a seeded base (SmoothGrad's noise
seeded per sample) they are a function of those alone, so each (text, class)
is computed once, kept in a :class:`ReferenceScores` table of the
:class:`~captum_nlp_ext.attr.ReferenceIndex` and saved in its file.
"""

import json
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

# The safetensors header entry that lists the tables of a saved index.
SCORES_METADATA_KEY = "captum_nlp_ext.reference_scores"


class ReferenceScores:
    """The kept base scores of one setting: ``(pool row, class) -> scores``
    over the text's attended tokens (float32, CPU)."""

    def __init__(self, entries: Optional[Dict[Tuple[int, int], Tensor]] = None) -> None:
        self.entries: Dict[Tuple[int, int], Tensor] = dict(entries or {})
        self.changed = False

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(
        self, rows: Sequence[int], classes: Sequence[int]
    ) -> List[Optional[Tensor]]:
        """The kept scores of each (row, class), None where not computed."""
        return [self.entries.get((r, c)) for r, c in zip(rows, classes)]

    def store(
        self,
        rows: Sequence[int],
        classes: Sequence[int],
        scores: Tensor,
        lengths: Sequence[int],
    ) -> None:
        """Keep ``scores[i, :lengths[i]]`` for each (row, class)."""
        for i, (row, cls) in enumerate(zip(rows, classes)):
            self.entries[(row, cls)] = scores[i, : lengths[i]].detach().float().cpu()
        self.changed = self.changed or len(rows) > 0

    def to_tensors(self) -> Tuple[Tensor, Tensor]:
        """(n, 2) long keys and (n, longest) float32 scores, NaN past each
        text's length: the form the index file stores."""
        keys = sorted(self.entries)
        width = max((self.entries[k].numel() for k in keys), default=0)
        scores = torch.full((len(keys), max(width, 1)), float("nan"))
        for i, key in enumerate(keys):
            value = self.entries[key]
            scores[i, : value.numel()] = value
        return torch.tensor(keys, dtype=torch.long).view(-1, 2), scores

    @classmethod
    def from_tensors(cls, keys: Tensor, scores: Tensor) -> "ReferenceScores":
        entries = {}
        for (row, c), values in zip(keys.tolist(), scores):
            kept = values[~torch.isnan(values)]
            entries[(int(row), int(c))] = kept.clone()
        return cls(entries)


def score_tensors(tables: Dict[str, ReferenceScores]) -> Tuple[Dict[str, Tensor], str]:
    """The tensors and the header entry that save ``tables`` (setting -> table)
    in an index file."""
    names = sorted(tables)
    tensors: Dict[str, Tensor] = {}
    for i, name in enumerate(names):
        keys, scores = tables[name].to_tensors()
        tensors[f"reference_scores.{i}.keys"] = keys
        tensors[f"reference_scores.{i}.scores"] = scores
    return tensors, json.dumps(names)


def read_score_tables(
    header: Optional[str],
    tensors: Dict[str, Tensor],
    texts: int,
    bad: Callable[[str, str], ValueError],
) -> Dict[str, ReferenceScores]:
    """The tables of a saved index (none in a file without the entry);
    ``bad(field, what)`` makes the error for a malformed one."""
    if header is None:
        return {}
    try:
        names = json.loads(header)
    except json.JSONDecodeError as error:
        raise bad(SCORES_METADATA_KEY, f"is not JSON ({error})")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad(SCORES_METADATA_KEY, "must be a JSON list of settings")
    tables = {}
    for i, name in enumerate(names):
        field = f"reference_scores.{i}"
        keys = tensors.get(f"{field}.keys")
        scores = tensors.get(f"{field}.scores")
        if keys is None or scores is None:
            raise bad(field, "is missing its keys or scores")
        if (
            keys.dim() != 2
            or keys.shape[1] != 2
            or keys.is_floating_point()
            or scores.dim() != 2
            or scores.shape[0] != keys.shape[0]
            or not scores.is_floating_point()
        ):
            raise bad(field, "must be (n, 2) long keys and (n, tokens) scores")
        if keys.numel() and (
            int(keys[:, 0].min()) < 0 or int(keys[:, 0].max()) >= texts
        ):
            raise bad(field, f"names texts outside the pool of {texts}")
        tables[name] = ReferenceScores.from_tensors(keys, scores)
    return tables
