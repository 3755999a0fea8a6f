"""Seeded randomness that does not depend on an example's place in a batch."""

import hashlib
from typing import List, Optional, Sequence, Union

import torch
from torch import Tensor

from captum_nlp_ext._utils.validation import check_int

#: A method's ``seed``: None (torch's global generator), one int for every
#: example, or one int per example of the batch.
SeedLike = Union[None, int, Sequence[int], Tensor]


def example_seed(seed: int, example: int) -> int:
    """The seed of example number ``example`` of a run seeded ``seed``.

    A hash of both (63 bits), so that neighbouring examples draw unrelated
    perturbations and an example's draws depend on nothing but its number:
    the same in one process or in any share of a data set among processes.
    """
    check_int("seed", seed, 0)
    check_int("example", example, 0)
    digest = hashlib.blake2b(f"{seed}/{example}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def batch_seeds(seed: SeedLike, batch: int) -> Optional[List[int]]:
    """``seed`` as one seed per example of a batch of ``batch`` (None stays
    None); a sequence must hold one non-negative int per example."""
    if seed is None:
        return None
    if isinstance(seed, Tensor):
        if seed.dim() != 1 or seed.is_floating_point():
            raise TypeError(
                "`seed` as a tensor must be 1-D integers, one per example; got "
                f"shape {tuple(seed.shape)}, dtype {seed.dtype}."
            )
        seed = seed.tolist()
    if isinstance(seed, int) and not isinstance(seed, bool):
        return [check_int("seed", seed, 0)] * batch
    if isinstance(seed, (str, bytes)) or not isinstance(seed, Sequence):
        raise TypeError(
            "`seed` must be None, an int, or one int per example; got "
            f"{type(seed).__name__}."
        )
    if len(seed) != batch:
        raise ValueError(
            f"`seed` has {len(seed)} seeds for {batch} examples: give one per "
            "example, or one int for all."
        )
    return [check_int("seed", s, 0) for s in seed]


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
