"""How a reference pool is encoded and stored: tokenized batches, pooled
hidden states of one layer, and the sample of pairwise distances behind
:class:`~captum_nlp_ext.attr.ReferenceIndex`."""

from typing import Any, Iterable, Iterator, List, Mapping, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.imports import require
from captum_nlp_ext._utils.outputs import output_to_tensor


def encode_texts(
    model: Module, input_ids: Tensor, attention_mask: Tensor, layer: int, pooling: str
) -> Tuple[Tensor, Tensor]:
    output = model(
        input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
    )
    hidden_states = getattr(output, "hidden_states", None)
    if hidden_states is None:
        raise TypeError(
            f"`model` ({type(model).__name__}) must return hidden_states when called "
            "with output_hidden_states=True (a Hugging Face model)."
        )
    if layer >= len(hidden_states):
        raise ValueError(
            f"`layer` must lie in [0, {len(hidden_states) - 1}] for this model; got "
            f"{layer}."
        )
    hidden = hidden_states[layer]
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    if pooling == "mean":
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1)
    elif pooling == "cls":
        pooled = hidden[:, 0]
    else:
        pooled = hidden.masked_fill(mask == 0, float("-inf")).amax(1)
    logits = output_to_tensor(output)
    predictions = (
        logits.argmax(-1) if logits.dim() == 2 else torch.zeros_like(input_ids[:, 0])
    )
    return pooled, predictions


def token_batches(
    data: Iterable[Any], tokenizer: Any, batch_size: int, max_length: Optional[int]
) -> Iterator[Tuple[Tensor, Tensor]]:
    """(ids, attention mask) batches from texts or token batches."""
    texts: List[str] = []

    def tokenized() -> Tuple[Tensor, Tensor]:
        encoding = tokenizer(
            texts,
            padding=True,
            truncation=max_length is not None,
            max_length=max_length,
            return_tensors="pt",
        )
        texts.clear()
        return encoding["input_ids"], encoding["attention_mask"]

    for item in data:
        if isinstance(item, str):
            if tokenizer is None:
                raise ValueError(
                    "`tokenizer` is needed to index texts (`data` of str)."
                )
            texts.append(item)
            if len(texts) == batch_size:
                yield tokenized()
        elif isinstance(item, Mapping) and "input_ids" in item:
            ids = torch.as_tensor(item["input_ids"])
            if ids.dim() != 2 or ids.is_floating_point():
                raise ValueError(
                    "`data` token batches need integer `input_ids` of shape (batch, "
                    f"tokens); got {tuple(ids.shape)} {ids.dtype}."
                )
            mask = item.get("attention_mask")
            mask = torch.ones_like(ids) if mask is None else torch.as_tensor(mask)
            yield ids.long(), mask.long()
        else:
            raise TypeError(
                "`data` must yield texts (str) or token batches (mappings with "
                f"'input_ids'); got {type(item).__name__}."
            )
    if texts:
        yield tokenized()


def pad_cat(parts: List[Tensor], value: int) -> Tensor:
    width = max(p.shape[1] for p in parts)
    return torch.cat(
        [
            torch.nn.functional.pad(p, (0, width - p.shape[1]), value=value)
            for p in parts
        ]
    )


def left_align(ids: Tensor, mask: Tensor, pad: int) -> Tensor:
    """Attended tokens moved to the front, the rest set to ``pad``, so texts
    padded on either side compare equal."""
    order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices
    return torch.where(mask.gather(1, order), ids.gather(1, order), pad)


def max_duplicates(input_ids: Tensor, attention_mask: Tensor) -> int:
    """The most copies of one text in the pool: how many extra candidates a
    search needs so that excluding the query's copies still leaves k."""
    aligned = left_align(input_ids, attention_mask > 0, -1)
    _, counts = torch.unique(aligned, dim=0, return_counts=True)
    return int(counts.max())


def sample_pair_distances(vectors: Tensor, max_pairs: int) -> Tensor:
    n = vectors.shape[0]
    total = n * (n - 1) // 2
    if total <= max_pairs:
        first, second = torch.triu_indices(n, n, offset=1)
    else:
        generator = torch.Generator().manual_seed(0)
        first = torch.randint(0, n, (max_pairs,), generator=generator)
        # An offset in [1, n) makes the second text always differ from the first.
        offset = torch.randint(1, n, (max_pairs,), generator=generator)
        second = (first + offset) % n
    distances = torch.cat(
        [
            (vectors[a] - vectors[b]).norm(dim=1)
            for a, b in zip(first.split(8192), second.split(8192))
        ]
    )
    return distances.sort().values


def count_layers(model: Module) -> Optional[int]:
    config = getattr(model, "config", None)
    count = getattr(config, "num_hidden_layers", None)
    return count if isinstance(count, int) else None


def device_of(model: Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def import_faiss() -> Any:
    return require("faiss", "captum-nlp-ext[faiss]", "`faiss_factory`")


def duplicates(
    pool_ids: Tensor,
    pool_mask: Tensor,
    indices: Tensor,
    query_ids: Tensor,
    query_mask: Optional[Tensor],
) -> Tensor:
    """(queries, candidates) bool: candidate ``indices`` of the pool (its
    ``pool_ids`` and ``pool_mask``) that hold exactly the query's attended
    tokens."""
    pad = -1
    query_ids = query_ids.to(pool_ids.device)
    if query_mask is None:
        query_mask = torch.ones_like(query_ids)
    query = left_align(query_ids, query_mask.to(query_ids.device) > 0, pad)
    candidates = pool_ids[indices.clamp(min=0)]
    pool = left_align(
        candidates.flatten(0, 1),
        pool_mask[indices.clamp(min=0)].flatten(0, 1) > 0,
        pad,
    ).view(*indices.shape, -1)
    width = max(query.shape[1], pool.shape[2])
    query = torch.nn.functional.pad(query, (0, width - query.shape[1]), value=pad)
    pool = torch.nn.functional.pad(pool, (0, width - pool.shape[2]), value=pad)
    return (pool == query.unsqueeze(1)).all(-1) & (indices >= 0)
