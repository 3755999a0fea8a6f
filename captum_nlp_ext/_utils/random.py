"""Seeded randomness that does not depend on an example's place in a batch."""

from typing import Optional

import torch


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
