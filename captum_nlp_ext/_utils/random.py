"""Seeded randomness that does not depend on an example's place in a batch."""

from typing import Optional, Sequence

import torch
from torch import Tensor


def example_generator(
    seed: Optional[int], device: torch.device
) -> Optional[torch.Generator]:
    """A generator for one example's draws.

    Every example gets a generator seeded with the same ``seed``, so an example
    explained alone or inside a batch receives the same perturbations. With
    ``seed=None`` torch's global generator is used (None is returned).
    """
    if seed is None:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def normal_at(
    mask: Tensor, hidden: int, seeds: Optional[Sequence[int]], like: Tensor
) -> Tensor:
    """(rows, tokens, hidden) standard normal noise where ``mask`` (rows,
    tokens) is True, zero elsewhere.

    With ``seeds``, row ``r`` draws from a generator seeded ``seeds[r]``, one
    vector per masked position in order: a row's noise depends only on its own
    positions, not on how far its batch is padded. With None, torch's global
    generator draws every row.
    """
    noise = like.new_zeros(*mask.shape, hidden)
    if seeds is None:
        return torch.randn(noise.shape, device=like.device, dtype=like.dtype) * (
            mask.unsqueeze(-1).to(like.dtype)
        )
    for row, seed in enumerate(seeds):
        positions = mask[row].nonzero().flatten()
        noise[row, positions] = torch.randn(
            len(positions),
            hidden,
            generator=example_generator(seed, like.device),
            device=like.device,
            dtype=like.dtype,
        )
    return noise
