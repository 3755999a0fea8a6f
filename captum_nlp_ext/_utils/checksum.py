"""Checksums of saved tensors, so that a file edited or damaged after it was
written is refused when read, rather than used."""

import hashlib
from typing import Mapping

import torch
from torch import Tensor


def tensor_checksum(tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 of every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
