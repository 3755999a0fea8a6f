"""This process's place in a data-parallel job started by ``torchrun``.

``torchrun`` (and ``accelerate launch``, and schedulers that set the same
variables) gives each process ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``, and
the rendezvous address in ``MASTER_ADDR`` / ``MASTER_PORT``. :class:`Ranks`
reads them, starts PyTorch's process group (gloo on CPU, nccl with one GPU per
process, chosen by ``LOCAL_RANK``) and offers the three collective steps a
run needs: a barrier, a broadcast of rank 0's decisions, and the end. Without
those variables it is the single process of a one-rank job and starts nothing.
"""

import datetime
import os
from dataclasses import dataclass
from typing import Any, List, Optional

import torch
import torch.distributed as dist

# A rank that finishes its share early waits for the others at the end; the
# runner polls the others' progress first, so the barrier itself is short, but
# a slow shard must never time the job out.
_TIMEOUT = datetime.timedelta(days=7)


@dataclass
class Ranks:
    """This process's rank among ``world`` processes.

    Attributes:
        rank (int): Its rank, 0 to ``world`` - 1.
        world (int): How many processes share the job.
        local_rank (int): Its rank on its machine (its GPU with nccl).
        device (torch.device): Where it runs the model.
        started (bool): Whether it started the process group (and ends it).
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    started: bool = False

    @classmethod
    def from_environment(cls, device: Optional[str] = None) -> "Ranks":
        """The job ``torchrun`` started, or a one-rank job.

        Args:
            device (str, optional): ``"cpu"`` or ``"cuda"``. Default: None (a
                        GPU per process when CUDA has one for ``LOCAL_RANK``,
                        else the CPU)
        """
        world = launch_world_size()
        rank = launch_rank()
        local_rank = _env_int("LOCAL_RANK", 0)
        if not 0 <= rank < world:
            raise ValueError(f"RANK={rank} is not below WORLD_SIZE={world}.")
        if device is None:
            cuda = torch.cuda.is_available() and local_rank < torch.cuda.device_count()
            device = "cuda" if cuda else "cpu"
        if device not in ("cpu", "cuda"):
            raise ValueError(f"`device` must be 'cpu' or 'cuda'; got {device!r}.")
        where = torch.device(f"cuda:{local_rank}" if device == "cuda" else "cpu")
        if device == "cuda":
            torch.cuda.set_device(where)
        started = False
        if world > 1 and not dist.is_initialized():
            if device == "cuda":
                dist.init_process_group("nccl", timeout=_TIMEOUT, device_id=where)
            else:
                dist.init_process_group("gloo", timeout=_TIMEOUT)
            started = True
        return cls(rank, world, local_rank, where, started)

    @property
    def main(self) -> bool:
        """Whether this is rank 0 (it writes the run's manifest)."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.world > 1:
            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value``, on every rank (any picklable object)."""
        if self.world == 1:
            return value
        box: List[Any] = [value if self.main else None]
        dist.broadcast_object_list(box, src=0, device=self._collective_device)
        return box[0]

    @property
    def _collective_device(self) -> Optional[torch.device]:
        return self.device if self.device.type == "cuda" else None

    def close(self) -> None:
        """End the process group this object started (idempotent)."""
        if self.started and dist.is_initialized():
            dist.destroy_process_group()
        self.started = False


def launch_rank() -> int:
    """This process's rank under torchrun (``RANK``; 0 alone)."""
    return _env_int("RANK", 0)


def launch_world_size() -> int:
    """The number of processes under torchrun (``WORLD_SIZE``; 1 alone)."""
    return _env_int("WORLD_SIZE", 1)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"the environment variable {name} must be an integer (torchrun sets "
            f"it); got {value!r}."
        ) from None
