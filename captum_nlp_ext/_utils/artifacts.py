"""One reader and writer of the files that bind learned or computed tensors to
the model they were made for: LAFA's reference index, DiffMask's probe and
VMASK's mask network.

Each is one ``.safetensors`` file: the tensors, string metadata in its header
(the artifact's settings as JSON, with the model's fingerprint) and a SHA-256
checksum of the tensors, written to a temporary file and moved into place, so
that a reader never sees half a file and refuses one edited after it was
written.
"""

from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.checksum import tensor_checksum
from captum_nlp_ext._utils.files import atomic_path
from captum_nlp_ext._utils.fingerprint import model_fingerprint
from captum_nlp_ext._utils.types import PathLike

#: The header entry holding the checksum of the tensors.
CHECKSUM_KEY = "captum_nlp_ext.checksum"


def write_artifact(
    path: PathLike, tensors: Mapping[str, Tensor], metadata: Mapping[str, str]
) -> None:
    """Write ``tensors`` (to the CPU, contiguous) and ``metadata`` to
    ``path``, atomically, with the tensors' checksum; parent folders are
    made."""
    from safetensors.torch import save_file

    stored = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    header = {**metadata, CHECKSUM_KEY: tensor_checksum(stored)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        save_file(stored, str(temporary), metadata=header)


def read_artifact(
    path: PathLike, what: str, require_checksum: bool = True
) -> Tuple[Dict[str, str], Dict[str, Tensor]]:
    """The header and tensors of a file written by :func:`write_artifact`,
    checked (:func:`check_checksum`).

    Args:
        path (path): The file.
        what (str): What the file is, for messages ("DiffMask").
        require_checksum (bool): Refuse a file without a checksum (else only
                    a wrong one: files of versions that wrote none).

    Raises:
        FileNotFoundError: No file at ``path``.
        ValueError: Not a readable safetensors file, or its tensors changed
                    after it was written.
    """
    header, tensors = open_artifact(path, what)
    check_checksum(header, tensors, f"{what} {str(path)!r}", require_checksum)
    return header, tensors


def open_artifact(
    path: PathLike, what: str
) -> Tuple[Dict[str, str], Dict[str, Tensor]]:
    """The header and tensors of a safetensors file, unchecked: a reader that
    checks what kind of file it is before its checksum calls
    :func:`check_checksum` itself."""
    from safetensors import safe_open

    if not Path(path).is_file():
        raise FileNotFoundError(f"No {what} file at {str(path)!r}.")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # safetensors raises its own error types
        raise ValueError(
            f"{str(path)!r} is not a readable safetensors file ({error})."
        ) from error
    return header, tensors


def check_checksum(
    header: Dict[str, str],
    tensors: Mapping[str, Tensor],
    name: str,
    required: bool = True,
) -> None:
    """Take the checksum out of ``header`` (from :func:`open_artifact`) and
    raise a ValueError naming ``name`` unless it matches ``tensors`` (or,
    unless ``required``, there is none)."""
    checksum = header.pop(CHECKSUM_KEY, None)
    if checksum is None and not required:
        return
    if checksum != tensor_checksum(tensors):
        state = "has no checksum" if checksum is None else "fails its checksum"
        raise ValueError(
            f"{name} {state}: its tensors were changed after it was written (or "
            "by an older version); delete it and build it again."
        )


def check_same_model(stored: Mapping[str, Any], model: Module, message: str) -> None:
    """Raise a ValueError unless ``model`` has the configuration and weights
    of the fingerprint ``stored``; ``message`` starts the error, which then
    names the parts that differ and ends with what to do (``{differ}`` in it
    is replaced by those parts)."""
    current = model_fingerprint(model)
    differs = [part for part in ("config", "weights") if stored[part] != current[part]]
    if differs:
        raise ValueError(message.replace("{differ}", " and ".join(differs)))
