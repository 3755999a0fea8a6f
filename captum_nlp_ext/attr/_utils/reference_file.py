"""The reference index file: one safetensors file, its settings as JSON in the
header. :func:`read_index_file` is its one reader; it refuses a malformed
file with a ValueError that names the file and the field."""

import json
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from captum_nlp_ext._utils.artifacts import check_checksum, CHECKSUM_KEY, open_artifact
from captum_nlp_ext.attr._utils.reference_scores import (
    read_score_tables,
    SCORES_METADATA_KEY,
)

FORMAT = "captum_nlp_ext.reference_index/1"
METADATA_KEY = "captum_nlp_ext.reference_index"
POOLINGS = ("mean", "cls", "max")
TENSORS = (
    "vectors",
    "input_ids",
    "attention_mask",
    "word_mask",
    "predictions",
    "pair_distances",
)


def read_index_file(
    path: str, num_labels: Optional[int] = None, num_layers: Optional[int] = None
) -> Tuple[Dict[str, Any], Dict[str, Tensor]]:
    """The settings and tensors of a saved reference index, validated; the
    kept base scores of its texts are in ``settings["reference_scores"]``
    (setting -> :class:`ReferenceScores`).

    Args:
        path (str): The ``.safetensors`` file.
        num_labels (int, optional): Classes of the classifier it is loaded
                    for; stored predictions must lie in ``[0, num_labels)``.
                    Default: None (not checked)
        num_layers (int, optional): Hidden layers of that model; the stored
                    layer must lie in ``[0, num_layers]``. Default: None

    Raises:
        ValueError: The file is missing, not a safetensors file, not a
                    reference index, of another format, fails its checksum
                    (edited or damaged), or has a missing or invalid field
                    (named).
    """

    def bad(field: str, what: str) -> ValueError:
        return ValueError(f"Reference index {path!r}: `{field}` {what}.")

    try:
        metadata, tensors = open_artifact(path, "reference index")
    except FileNotFoundError as error:
        raise ValueError(f"No reference index file at {path!r}.") from error
    header = metadata.get(METADATA_KEY)
    if header is None:
        raise ValueError(
            f"{path!r} is not a saved ReferenceIndex (its header has no "
            f"{METADATA_KEY!r} entry)."
        )
    check_checksum(metadata, tensors, f"Reference index {path!r}")
    scores_header = metadata.get(SCORES_METADATA_KEY)
    try:
        settings = json.loads(header)
    except json.JSONDecodeError as error:
        raise bad(METADATA_KEY, f"is not JSON ({error})") from error
    if not isinstance(settings, dict):
        raise bad(METADATA_KEY, f"must be a JSON object; got {type(settings).__name__}")
    if settings.get("format") != FORMAT:
        raise bad(
            "format", f"is {settings.get('format')!r}; this version reads {FORMAT!r}"
        )
    _check_settings(settings, bad, num_layers)
    _check_tensors(tensors, bad, num_labels)
    settings["reference_scores"] = read_score_tables(
        scores_header, tensors, tensors["vectors"].shape[0], bad
    )
    return settings, tensors


def _check_settings(
    settings: Dict[str, Any], bad: Any, num_layers: Optional[int]
) -> None:
    for field in ("layer", "pad_token_id", "max_duplicates"):
        value = settings.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad(field, f"must be an int >= 0; got {value!r}")
    if num_layers is not None and settings["layer"] > num_layers:
        raise bad("layer", f"is {settings['layer']}; the model has {num_layers} layers")
    if settings.get("pooling") not in POOLINGS:
        raise bad(
            "pooling",
            f"must be one of {list(POOLINGS)}; got {settings.get('pooling')!r}",
        )
    fingerprint = settings.get("fingerprint")
    if not isinstance(fingerprint, dict) or not all(
        isinstance(fingerprint.get(part), str) for part in ("config", "weights")
    ):
        raise bad("fingerprint", "must hold the `config` and `weights` hashes")


def _check_tensors(
    tensors: Dict[str, Tensor], bad: Any, num_labels: Optional[int]
) -> None:
    missing = [name for name in TENSORS if name not in tensors]
    if missing:
        raise bad(missing[0], "is missing")
    vectors, ids = tensors["vectors"], tensors["input_ids"]
    if vectors.dim() != 2 or not vectors.is_floating_point() or len(vectors) == 0:
        raise bad(
            "vectors",
            "must be a non-empty float (texts, hidden) matrix; got "
            + _describe(vectors),
        )
    if not bool(torch.isfinite(vectors).all()):
        raise bad("vectors", "holds NaN or infinite values")
    texts = vectors.shape[0]
    if ids.dim() != 2 or ids.is_floating_point() or ids.shape[0] != texts:
        raise bad(
            "input_ids", f"must be integer ({texts}, tokens); got {_describe(ids)}"
        )
    for name in ("attention_mask", "word_mask"):
        if tensors[name].shape != ids.shape:
            raise bad(
                name,
                f"must have the shape of `input_ids` {tuple(ids.shape)}; got "
                + _describe(tensors[name]),
            )
    predictions = tensors["predictions"]
    if predictions.shape != (texts,) or predictions.is_floating_point():
        raise bad(
            "predictions", f"must be integer ({texts},); got {_describe(predictions)}"
        )
    if (
        num_labels is not None
        and texts
        and (int(predictions.min()) < 0 or int(predictions.max()) >= num_labels)
    ):
        raise bad(
            "predictions",
            f"holds classes in [{int(predictions.min())}, {int(predictions.max())}]; "
            f"the classifier has {num_labels}",
        )
    distances = tensors["pair_distances"]
    if distances.dim() != 1 or not distances.is_floating_point():
        raise bad(
            "pair_distances", f"must be a float vector; got {_describe(distances)}"
        )
    if not bool(torch.isfinite(distances).all()) or (
        distances.numel() and float(distances.min()) < 0
    ):
        raise bad("pair_distances", "must hold finite distances >= 0")


def _describe(tensor: Tensor) -> str:
    return f"{tensor.dtype} of shape {tuple(tensor.shape)}"


__all__ = ["CHECKSUM_KEY", "FORMAT", "METADATA_KEY", "POOLINGS", "read_index_file"]
