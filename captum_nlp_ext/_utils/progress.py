"""Each rank's count of explained examples, and rank 0's bar over them all.

Ranks explain at their own pace, so no collective call can carry their counts
while they work. Each writes its count to ``progress/rank-R.json`` in the run
folder (which every rank sees: on several machines, a shared file system)
after each batch, replacing the file whole; rank 0 sums the files into its
progress bar, and waits on them (not on a barrier) for the others to finish.
"""

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from tqdm.auto import tqdm

from captum_nlp_ext._utils.files import write_text_atomic

PROGRESS_DIR = "progress"
# How often rank 0 looks at the others' counts while it waits for them.
POLL_SECONDS = 0.5


class Progress:
    """This rank's count (written to its file) and, on rank 0, the job's bar.

    Args:
        run_dir (Path): The run folder.
        rank (int): This process's rank.
        world (int): The job's ranks.
        total (int): Items the job does (rank 0's bar).
        show (bool): Show the bar (rank 0 only). Default: True
        desc (str): The bar's label. Default: "attribute"
        unit (str): What an item is. Default: "example"
    """

    def __init__(
        self,
        run_dir: Path,
        rank: int,
        world: int,
        total: int,
        show: bool = True,
        desc: str = "attribute",
        unit: str = "example",
    ) -> None:
        self.folder = run_dir / PROGRESS_DIR
        self.rank, self.world = rank, world
        self.examples = self.failed = 0
        self.started = time.time()
        self.bar: Optional[Any] = None
        if rank == 0:
            self.bar = tqdm(total=total, desc=desc, unit=unit, disable=not show)
        self.write(finished=False)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        # Closed before an error reaches the user, so that its message gets a
        # line of its own and the bar is not drawn again after it.
        self.close()

    def close(self) -> None:
        """End the bar (its last state stays on its line)."""
        if self.bar is not None:
            self.bar.close()

    @staticmethod
    def clear(run_dir: Path) -> None:
        """Remove the counts of an earlier job (rank 0, before the ranks start)."""
        folder = run_dir / PROGRESS_DIR
        if folder.is_dir():
            for path in folder.glob("rank-*.json"):
                path.unlink(missing_ok=True)

    def add(self, examples: int, failed: int = 0) -> None:
        """Count ``examples`` more done (``failed`` of them failed)."""
        self.examples += examples
        self.failed += failed
        self.write(finished=False)
        self._refresh()

    def write(self, finished: bool) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"rank-{self.rank}.json"
        state = {
            "rank": self.rank,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "examples": self.examples,
            "failed": self.failed,
            "seconds": time.time() - self.started,
            "finished": finished,
        }
        write_text_atomic(path, json.dumps(state))

    def states(self) -> List[Dict[str, Any]]:
        """Every rank's last written state (ranks not started yet are absent)."""
        out = []
        for rank in range(self.world):
            path = self.folder / f"rank-{rank}.json"
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (FileNotFoundError, json.JSONDecodeError):
                continue
        return out

    def _refresh(self) -> None:
        if self.bar is None:
            return
        done = sum(int(s["examples"]) for s in self.states())
        self.bar.update(done - self.bar.n)

    def finish(self) -> List[Dict[str, Any]]:
        """Mark this rank done; on rank 0, wait until every rank is, and return
        their states (the other ranks return theirs alone)."""
        self.write(finished=True)
        if self.rank != 0:
            return self.states()
        while True:
            states = self.states()
            self._refresh()
            if len(states) == self.world and all(s["finished"] for s in states):
                break
            time.sleep(POLL_SECONDS)
        self.close()
        return states
