"""Nearest pool texts of query vectors: which texts a search keeps
(:class:`NeighbourSearch`), and the search itself, exact with torch or through
a faiss index (the optional ``faiss`` package) for large pools, both optionally
within the query's predicted class."""

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from captum_nlp_ext._utils.validation import check_float, check_int
from captum_nlp_ext.attr._utils.reference_pool import import_faiss


@dataclass(frozen=True)
class NeighbourSearch:
    r"""Which pool texts are the reference texts :math:`X_\text{sim}` of a text
    in :class:`~captum_nlp_ext.attr.LayerLAFA` (Zhang et al., "Locally
    Aggregated Feature Attribution on Natural Language Model Understanding",
    NAACL 2022). Give it to the constructor:
    ``LayerLAFA(forward, layer, index, search=NeighbourSearch(5))``; the
    defaults are LayerLAFA's.

    Args:
        n_neighbours (int): Most reference texts a text, M >= 1.
                    Default: 10
        quantile (float, optional): Neighbours must be closer than this
                    quantile of the pool's pairwise distances, in [0, 1]; None
                    keeps the M nearest whatever their distance.
                    Default: 0.39
        same_class (bool): Keep only reference texts that the model predicts as
                    the explained target class.
                    Default: True
        exclude_duplicates (bool): Skip pool texts whose tokens are exactly the
                    explained text's (it is not its own reference).
                    Default: True
    """

    n_neighbours: int = 10
    quantile: Optional[float] = 0.39
    same_class: bool = True
    exclude_duplicates: bool = True

    def __post_init__(self) -> None:
        check_int("n_neighbours", self.n_neighbours, 1)
        if self.quantile is not None:
            check_float("quantile", self.quantile, 0.0, 1.0, low_inclusive=True)
        for name in ("same_class", "exclude_duplicates"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(
                    f"`{name}` must be True or False; got {getattr(self, name)!r}."
                )


def torch_search(
    vectors: Tensor,
    predictions: Tensor,
    queries: Tensor,
    k: int,
    classes: Optional[Tensor],
) -> Tuple[Tensor, Tensor]:
    """(queries, k) Euclidean distances and pool positions of the nearest
    texts (-1 where fewer qualify), exact."""
    distances = torch.cdist(
        queries, vectors, compute_mode="donot_use_mm_for_euclid_dist"
    )
    if classes is not None:
        other = predictions.unsqueeze(0) != classes.unsqueeze(1)
        distances = distances.masked_fill(other, float("inf"))
    distances, indices = torch.topk(distances, k, dim=1, largest=False)
    return distances, torch.where(torch.isinf(distances), -1, indices)


class FaissSearch:
    """The same search through faiss indexes built with ``factory`` (one over
    the pool, or one per class), made on first use and kept."""

    def __init__(self, vectors: Tensor, predictions: Tensor, factory: str) -> None:
        self.vectors, self.predictions, self.factory = vectors, predictions, factory
        self._indexes: Dict[Optional[int], Tuple[Any, Tensor]] = {}

    def __call__(
        self, queries: Tensor, k: int, classes: Optional[Tensor]
    ) -> Tuple[Tensor, Tensor]:
        distances = torch.full((queries.shape[0], k), float("inf"))
        indices = torch.full((queries.shape[0], k), -1, dtype=torch.long)
        groups = [None] if classes is None else classes.unique().tolist()
        for group in groups:
            rows = (
                torch.arange(queries.shape[0])
                if group is None
                else (classes == group).nonzero().flatten().cpu()
            )
            faiss_index, members = self._index(group)
            if members.numel() == 0:
                continue
            found_squared, found = faiss_index.search(
                queries[rows].cpu().numpy(), min(k, members.numel())
            )
            found = torch.from_numpy(found).long()
            valid = found >= 0
            count = found.shape[1]
            indices[rows, :count] = torch.where(valid, members[found.clamp(min=0)], -1)
            distances[rows, :count] = torch.where(
                valid,
                torch.from_numpy(found_squared).clamp(min=0).sqrt(),
                float("inf"),
            )
        return distances.to(queries.device), indices.to(queries.device)

    def _index(self, group: Optional[int]) -> Tuple[Any, Tensor]:
        if group not in self._indexes:
            faiss = import_faiss()
            members = torch.arange(len(self.vectors))
            if group is not None:
                members = (self.predictions.cpu() == group).nonzero().flatten()
            data = self.vectors.cpu()[members].contiguous().numpy()
            index = faiss.index_factory(data.shape[1], self.factory, faiss.METRIC_L2)
            if not index.is_trained:
                index.train(data)
            if data.shape[0]:
                index.add(data)
            self._indexes[group] = (index, members)
        return self._indexes[group]
