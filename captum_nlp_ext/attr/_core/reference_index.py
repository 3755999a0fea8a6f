"""A reference pool of texts encoded by one hidden layer of the explained model,
searched for the nearest neighbours of a text (LAFA's reference texts)."""

import json
from pathlib import Path
from typing import (
    Any,
    Dict,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

import torch
from torch import Tensor
from torch.nn import Module
from tqdm.auto import tqdm

from captum_nlp_ext._utils.artifacts import check_same_model, write_artifact
from captum_nlp_ext._utils.deprecation import keyword_only_after, renamed_arguments
from captum_nlp_ext._utils.fingerprint import model_fingerprint
from captum_nlp_ext._utils.hooks import eval_mode
from captum_nlp_ext._utils.tokens import token_id
from captum_nlp_ext._utils.validation import check_choice, check_float, check_int
from captum_nlp_ext.attr._utils.reference_file import (
    FORMAT,
    METADATA_KEY,
    POOLINGS,
    read_index_file,
)
from captum_nlp_ext.attr._utils.reference_pool import (
    count_layers,
    device_of,
    duplicates,
    encode_texts,
    import_faiss,
    max_duplicates,
    pad_cat,
    sample_pair_distances,
    token_batches,
)
from captum_nlp_ext.attr._utils.reference_scores import (
    ReferenceScores,
    score_tensors,
    SCORES_METADATA_KEY,
)
from captum_nlp_ext.attr._utils.reference_search import FaissSearch, torch_search


class Neighbours(NamedTuple):
    """Nearest reference texts of a batch of queries.

    Attributes:
        indices (Tensor): (queries, k) long positions in the pool, nearest first;
                    -1 where fewer than k texts qualify.
        distances (Tensor): (queries, k) L2 distances; inf where ``indices`` is -1.
    """

    indices: Tensor
    distances: Tensor


class ReferenceIndex:
    r"""Texts of a reference pool, encoded once with one hidden layer of the
    explained model, and searched by exact L2 distance.

    This is the neighbour search of LAFA (Zhang et al., "Locally Aggregated
    Feature Attribution on Natural Language Model Understanding", NAACL 2022):
    a text is represented by the pooled hidden states of one layer of the model
    being explained (not by an external sentence encoder), and its reference
    texts are the nearest pool texts in that space.

    The index stores, for every pool text, its pooled vector, its token ids and
    attention mask (so that :class:`~captum_nlp_ext.attr.LayerLAFA` can compute
    gradients on it), which tokens count as words (special tokens excluded) and
    the model's predicted class. It also keeps a sorted sample of pairwise
    distances within the pool, so that a distance cut-off can be set as a
    quantile, and a fingerprint of the model (a hash of its configuration and of
    a sample of every weight), so that an index built with another model is
    refused.

    Build one with :meth:`build`, store it with :meth:`save` (one
    ``.safetensors`` file, its settings as JSON in the header; no pickle) and
    read it back with :meth:`load`. Search is exact, in torch, by default; with
    ``faiss_factory`` (needs the optional ``faiss`` package) a faiss index of
    that factory string (``faiss.index_factory``) serves large pools
    (``"Flat"`` is exact and gives the same neighbours as torch;
    ``"IVF256,Flat"`` or ``"HNSW32"`` are approximate and faster).

    Use the class methods to make one; the constructor takes the stored fields.
    """

    @keyword_only_after(9)
    def __init__(
        self,
        model: Module,
        vectors: Tensor,
        input_ids: Tensor,
        attention_mask: Tensor,
        word_mask: Tensor,
        predictions: Tensor,
        pair_distances: Tensor,
        settings: Dict[str, Any],
        *,
        faiss_factory: Optional[str] = None,
    ) -> None:
        self.model = model
        self.vectors = vectors
        self.input_ids = input_ids
        self.attention_mask = attention_mask
        self.word_mask = word_mask
        self.predictions = predictions
        self.pair_distances = pair_distances
        self.settings = settings
        self.faiss_factory = faiss_factory
        self._faiss = (
            None
            if faiss_factory is None
            else FaissSearch(self.vectors, self.predictions, faiss_factory)
        )
        self.score_tables: Dict[str, ReferenceScores] = {}
        # Where a benchmark run keeps this index (its cache file), if anywhere.
        self.saved_at: Optional[Path] = None
        if faiss_factory is not None:
            import_faiss()

    @property
    def layer(self) -> int:
        """The hidden layer that encodes texts (0 = embeddings)."""
        return int(self.settings["layer"])

    @property
    def pooling(self) -> str:
        return str(self.settings["pooling"])

    def __len__(self) -> int:
        return self.vectors.shape[0]

    def __repr__(self) -> str:
        return (
            f"ReferenceIndex({len(self)} texts, layer={self.layer}, "
            f"pooling={self.pooling!r}, faiss_factory={self.faiss_factory!r})"
        )

    @classmethod
    @renamed_arguments(layer="layer_index")
    @keyword_only_after(4)
    def build(
        cls,
        model: Module,
        data: Iterable[Any],
        tokenizer: Any = None,
        *,
        layer_index: int = 2,
        pooling: str = "mean",
        batch_size: int = 32,
        max_length: Optional[int] = 128,
        special_token_ids: Optional[Sequence[int]] = None,
        max_pairs: int = 200_000,
        faiss_factory: Optional[str] = None,
        show_progress: bool = False,
    ) -> "ReferenceIndex":
        r"""Encode a reference pool with one hidden layer of ``model``.

        Args:
            model (torch.nn.Module): The explained Hugging Face model (it must
                        accept ``output_hidden_states=True``). It runs in eval
                        mode without gradients; its mode is restored.
            data (Iterable): Texts (``str``, tokenized with ``tokenizer`` in
                        batches of ``batch_size``), or token batches: mappings
                        with ``input_ids`` (batch, tokens) and optionally
                        ``attention_mask`` (a tokenizer's ``BatchEncoding``, for
                        instance).
            tokenizer (PreTrainedTokenizerBase, optional): Needed for texts; its
                        special tokens are not counted as words.
                        Default: None
            layer_index (int): Which hidden state encodes a text: 0 is the embedding
                        output, ``i`` the output of transformer block ``i``.
                        LAFA's SST setting uses layer 2.
                        Default: 2
            pooling (str): ``"mean"`` over the attended tokens (specials
                        included), ``"cls"`` (the first token) or ``"max"`` over
                        attended tokens. The paper does not say; the mean is our
                        reading.
                        Default: "mean"
            batch_size (int): Texts per forward pass.
                        Default: 32
            max_length (int, optional): Truncation length for texts.
                        Default: 128
            special_token_ids (list[int], optional): Token ids that are not words
                        (excluded from LAFA's aggregation).
                        Default: None (the tokenizer's special ids, or none)
            max_pairs (int): Pairwise distances kept for distance quantiles: all
                        pairs of a small pool, else this many random pairs
                        (seeded, so the index is reproducible).
                        Default: 200000
            faiss_factory (str, optional): Search with a faiss index of this
                        factory string instead of exact torch search.
                        Default: None
            show_progress (bool): Show a progress bar over batches.
                        Default: False

        Returns:
            ReferenceIndex
        """
        check_int("layer_index", layer_index, 0)
        check_choice("pooling", pooling, POOLINGS)
        check_int("batch_size", batch_size, 1)
        check_int("max_pairs", max_pairs, 1)
        if max_length is not None:
            check_int("max_length", max_length, 1)
        n_layers = count_layers(model)
        if n_layers is not None and layer_index > n_layers:
            raise ValueError(
                f"`layer_index` must lie in [0, {n_layers}] for this model (0 = "
                "embeddings, i = output of transformer block i); got "
                f"{layer_index}."
            )
        if special_token_ids is None:
            special_token_ids = getattr(tokenizer, "all_special_ids", None) or []
        specials = torch.tensor(sorted(set(special_token_ids)), dtype=torch.long)
        pad_id = token_id("pad_token_id", tokenizer=tokenizer, model=model)
        pad_id = 0 if pad_id is None else pad_id
        batches = token_batches(data, tokenizer, batch_size, max_length)
        parts: Dict[str, List[Tensor]] = {
            k: [] for k in ("vectors", "ids", "mask", "predictions")
        }
        device = device_of(model)
        with torch.no_grad(), eval_mode(model):
            for ids, mask in tqdm(
                batches,
                desc="reference index",
                total=_batch_count(data, batch_size),
                disable=not show_progress,
            ):
                vectors, predictions = encode_texts(
                    model, ids.to(device), mask.to(device), layer_index, pooling
                )
                parts["vectors"].append(vectors.float().cpu())
                parts["predictions"].append(predictions.cpu())
                parts["ids"].append(ids.cpu())
                parts["mask"].append(mask.cpu())
        if not parts["vectors"]:
            raise ValueError("`data` is empty: the reference pool needs texts.")
        input_ids = pad_cat(parts["ids"], pad_id)
        attention_mask = pad_cat(parts["mask"], 0)
        word_mask = (attention_mask > 0) & ~torch.isin(input_ids, specials)
        vectors = torch.cat(parts["vectors"])
        settings = {
            "format": FORMAT,
            "layer": layer_index,
            "pooling": pooling,
            "pad_token_id": pad_id,
            "max_duplicates": max_duplicates(input_ids, attention_mask),
            "fingerprint": model_fingerprint(model),
        }
        return cls(
            model,
            vectors,
            input_ids,
            attention_mask,
            word_mask,
            torch.cat(parts["predictions"]),
            sample_pair_distances(vectors, max_pairs),
            settings,
            faiss_factory=faiss_factory,
        )

    def save(self, path: str) -> None:
        """Write the index to one ``.safetensors`` file (tensors, and the settings
        as JSON in its header), with the base scores LAFA kept for its texts
        (:meth:`scores_for`). The model is not saved: :meth:`load` takes it."""
        tensors = {
            "vectors": self.vectors,
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "word_mask": self.word_mask,
            "predictions": self.predictions,
            "pair_distances": self.pair_distances,
        }
        scores, names = score_tensors(self.score_tables)
        tensors.update(scores)
        metadata = {METADATA_KEY: json.dumps(self.settings), SCORES_METADATA_KEY: names}
        write_artifact(path, tensors, metadata)
        for table in self.score_tables.values():
            table.changed = False

    @classmethod
    @keyword_only_after(3)
    def load(
        cls, path: str, model: Module, *, faiss_factory: Optional[str] = None
    ) -> "ReferenceIndex":
        """Read an index written by :meth:`save` and bind it to ``model``.

        Args:
            path (str): The ``.safetensors`` file.
            model (torch.nn.Module): The explained model; it must be the model
                        the index was built with (same configuration and weights).
            faiss_factory (str, optional): See :meth:`build`.
                        Default: None

        Raises:
            ValueError: if the file is missing, is not a reference index, has a
                        missing or invalid field (the message names the file and
                        the field), or ``model`` is not the model it was built
                        with.
        """
        config = getattr(model, "config", None)
        labels = getattr(config, "num_labels", None)
        settings, tensors = read_index_file(
            path,
            num_labels=labels if isinstance(labels, int) else None,
            num_layers=count_layers(model),
        )
        tables = settings.pop("reference_scores")
        index = cls(
            model,
            tensors["vectors"],
            tensors["input_ids"],
            tensors["attention_mask"],
            tensors["word_mask"],
            tensors["predictions"],
            tensors["pair_distances"],
            settings,
            faiss_factory=faiss_factory,
        )
        index.check_model(model)
        index.score_tables = tables
        return index

    def scores_for(self, setting: str) -> ReferenceScores:
        """The kept base scores of the pool's texts for one base-method
        setting (a string that names everything they depend on), created empty
        on first use. :class:`~captum_nlp_ext.attr.LayerLAFA` fills and reads
        it; :meth:`save` writes it."""
        return self.score_tables.setdefault(setting, ReferenceScores())

    @property
    def scores_changed(self) -> bool:
        """Whether base scores were kept since the index was loaded or saved."""
        return any(table.changed for table in self.score_tables.values())

    def check_model(self, model: Module) -> None:
        """Raise a ValueError unless ``model`` is the model the index was built
        with (same configuration and weights)."""
        check_same_model(
            self.settings["fingerprint"],
            model,
            "The reference index was built with a different model (its {differ} "
            "differ): rebuild the index with ReferenceIndex.build for this model.",
        )

    def encode(
        self, input_ids: Tensor, attention_mask: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor]:
        """Pooled hidden states and predicted classes of token-id texts, the way
        the pool was encoded.

        Args:
            input_ids (Tensor): (batch, tokens) token ids.
            attention_mask (Tensor, optional): (batch, tokens); None attends to
                        every token.
                        Default: None

        Returns:
            (batch, hidden) float vectors on the pool's device, and (batch,)
            predicted classes.
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        with torch.no_grad(), eval_mode(self.model):
            vectors, predictions = encode_texts(
                self.model, input_ids, attention_mask, self.layer, self.pooling
            )
        return vectors.float().to(self.vectors.device), predictions

    def distance_quantile(self, quantile: float) -> float:
        """The ``quantile`` of pairwise L2 distances between pool texts."""
        check_float("quantile", quantile, 0.0, 1.0, low_inclusive=True)
        if self.pair_distances.numel() == 0:
            raise ValueError(
                "The reference pool has a single text: a distance quantile needs at "
                "least two (pass quantile=None for no distance cut-off)."
            )
        return float(torch.quantile(self.pair_distances.double(), quantile))

    def search(
        self,
        vectors: Tensor,
        k: int,
        max_distance: Optional[float] = None,
        classes: Optional[Tensor] = None,
        exclude_ids: Optional[Tensor] = None,
        exclude_mask: Optional[Tensor] = None,
    ) -> Neighbours:
        """The ``k`` nearest pool texts of each query vector.

        Args:
            vectors (Tensor): (queries, hidden) query vectors from :meth:`encode`.
            k (int): Neighbours a query, >= 1.
            max_distance (float, optional): Keep neighbours closer than this.
                        Default: None (no cut-off)
            classes (Tensor, optional): (queries,) classes; keep only pool texts
                        predicted as the query's class.
                        Default: None
            exclude_ids (Tensor, optional): (queries, tokens) token ids of the
                        queries: pool texts with exactly these tokens (the query
                        itself) are skipped.
                        Default: None
            exclude_mask (Tensor, optional): (queries, tokens) attention mask of
                        ``exclude_ids``.
                        Default: None (every token)

        Returns:
            :class:`Neighbours` of shape (queries, k).
        """
        check_int("k", k, 1)
        queries = vectors.to(self.vectors.device, torch.float32)
        if queries.dim() != 2 or queries.shape[1] != self.vectors.shape[1]:
            raise ValueError(
                f"`vectors` must have shape (queries, {self.vectors.shape[1]}); got "
                f"{tuple(vectors.shape)}."
            )
        spare = 0 if exclude_ids is None else int(self.settings["max_duplicates"])
        wanted = min(k + spare, len(self))
        if classes is not None:
            classes = classes.to(self.vectors.device)
        if self._faiss is None:
            distances, indices = torch_search(
                self.vectors, self.predictions, queries, wanted, classes
            )
        else:
            distances, indices = self._faiss(queries, wanted, classes)
        keep = indices >= 0
        if max_distance is not None:
            keep &= distances < max_distance
        if exclude_ids is not None:
            keep &= ~duplicates(
                self.input_ids, self.attention_mask, indices, exclude_ids, exclude_mask
            )
        # Stable sort puts the kept candidates first, still nearest first.
        order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices[:, :k]
        keep = keep.gather(1, order)
        indices = torch.where(keep, indices.gather(1, order), -1)
        distances = torch.where(keep, distances.gather(1, order), float("inf"))
        if indices.shape[1] < k:
            missing = k - indices.shape[1]
            indices = torch.nn.functional.pad(indices, (0, missing), value=-1)
            distances = torch.nn.functional.pad(
                distances, (0, missing), value=float("inf")
            )
        return Neighbours(indices, distances)

    def gather(self, indices: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Token ids, attention masks and word masks of pool texts, trimmed to the
        longest of them.

        Args:
            indices (Tensor): (n,) long pool positions (no -1).

        Returns:
            (n, tokens) ids, attention mask and bool word mask.
        """
        mask = self.attention_mask[indices]
        length = int(mask.sum(1).max().item()) if indices.numel() else 1
        return (
            self.input_ids[indices, :length],
            mask[:, :length],
            self.word_mask[indices, :length],
        )


def _batch_count(data: Any, batch_size: int) -> Optional[int]:
    """Batches of a list of texts (a progress bar's total); None when ``data``
    cannot tell (an iterator, token batches)."""
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], str):
        return -(-len(data) // batch_size)
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], Mapping):
        return len(data)
    return None
