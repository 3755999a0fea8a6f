"""The data sets known by name to the benchmark and the command line: how to
load each, its splits and what gold it carries."""

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext.datasets.eraser import load_eraser_movies
from captum_nlp_ext.datasets.esnli import load_esnli
from captum_nlp_ext.datasets.imdb import load_imdb_sample
from captum_nlp_ext.datasets.mr import load_mr
from captum_nlp_ext.datasets.records import TextExample
from captum_nlp_ext.datasets.sst import load_sst, load_sst2


@dataclass(frozen=True)
class DatasetSpec:
    """A data set the runner knows by name.

    Attributes:
        load (Callable): ``(split, data_dir, limit) -> list of TextExample``.
        splits (tuple of str): Its splits; the first is the default.
        train_split (str, optional): The split that sets plausibility's k and
                    LAFA's reference pool; None when there is none.
        rationales (bool): Whether examples carry human word rationales.
        word_scores (bool): Whether examples carry gold word scores (SST).
    """

    load: Callable[[str, Optional[PathLike], Optional[int]], List[TextExample]]
    splits: Tuple[str, ...]
    train_split: Optional[str]
    rationales: bool = False
    word_scores: bool = False


def _load_mr(split: str, data_dir: Optional[PathLike], limit: Optional[int]) -> list:
    # Interleaved so that any prefix holds both classes.
    return load_mr(data_dir, limit, order="interleaved")


DATASETS: Dict[str, DatasetSpec] = {
    "sst2": DatasetSpec(load_sst2, ("dev", "train"), "train"),
    "sst": DatasetSpec(load_sst, ("dev", "train"), "train", word_scores=True),
    "movies": DatasetSpec(load_eraser_movies, ("val", "train"), "train", True),
    "esnli": DatasetSpec(load_esnli, ("dev",), None, True),
    "mr": DatasetSpec(_load_mr, ("all",), None),
    "imdb": DatasetSpec(load_imdb_sample, ("valid", "train"), "train"),
}


def named_split(dataset: str, split: Optional[str]) -> Tuple[DatasetSpec, str]:
    """A named data set's spec and ``split`` (its first split when None),
    checked."""
    if dataset not in DATASETS:
        raise ValueError(
            f"`dataset` must be one of {sorted(DATASETS)}; got {dataset!r}."
        )
    spec = DATASETS[dataset]
    split = split or spec.splits[0]
    if split not in spec.splits:
        raise ValueError(
            f"`split` of {dataset} must be one of {list(spec.splits)}; got {split!r}."
        )
    return spec, split
