"""A benchmark run's plan (``--dry-run``): model passes and time per method,
estimated from a short calibration on this machine."""

import time
from dataclasses import dataclass
from typing import Dict, List, Sequence

from captum_nlp_ext.benchmark._jobs import BatchWorker

# Enough to span the run's lengths; a whole batch of long reviews would make
# the calibration itself a long run.
CALIBRATION_EXAMPLES = 4


@dataclass(frozen=True)
class MethodPlan:
    """The estimate for one method over the run.

    Attributes:
        method (str): The registered name.
        forward_rows (float): Forward rows an example (calibration mean).
        backward_rows (float): Backward rows an example.
        seconds (float): Attribution and metrics, seconds an example.
        total_seconds (float): ``seconds`` x the run's examples still to do /
                    ``jobs``.
    """

    method: str
    forward_rows: float
    backward_rows: float
    seconds: float
    total_seconds: float


def calibration_rows(order: Sequence[int], size: int) -> List[int]:
    """``size`` examples spread over ``order`` (the run's examples by
    length), shortest and longest included, so that the sample has the run's
    lengths."""
    if len(order) <= size:
        return list(order)
    step = (len(order) - 1) / (size - 1)
    return sorted({order[round(i * step)] for i in range(size)})


def calibrate(
    worker: BatchWorker,
    rows: List[int],
    remaining: Dict[str, int],
    jobs: int,
) -> List[MethodPlan]:
    """Explain ``rows`` (one batch) with every method and scale to the
    ``remaining`` examples of each method. The records are not kept. The
    sample's first method also pays one-time costs (lazy initialization), and
    LAFA computes every neighbour it meets: the estimate leans high."""
    batch = worker.explainer.batch(rows)
    plans = []
    for name in worker.settings.names:
        start = time.perf_counter()
        records = worker.explainer.records(
            batch, name, worker.settings.context(name, worker.resources), list(rows)
        )
        seconds = (time.perf_counter() - start) / len(rows)
        costs = [r.get("cost") or {} for r in records]
        forward = sum(c.get("forward_rows", 0.0) for c in costs) / len(rows)
        backward = sum(c.get("backward_rows", 0.0) for c in costs) / len(rows)
        plans.append(
            MethodPlan(
                name,
                forward,
                backward,
                seconds,
                seconds * remaining.get(name, 0) / jobs,
            )
        )
    return plans


def plan_table(
    plans: Sequence[MethodPlan], resources_seconds: float, sample: int
) -> str:
    """The plan as a text table, with the total."""
    lines = [
        f"calibration: {sample} examples spread over the run's lengths; "
        f"resources built in {resources_seconds:.1f} s",
        f"{'method':<18}{'fwd rows/ex':>12}{'bwd rows/ex':>12}{'s/ex':>9}"
        f"{'estimated':>12}",
    ]
    for p in plans:
        lines.append(
            f"{p.method:<18}{p.forward_rows:>12.1f}{p.backward_rows:>12.1f}"
            f"{p.seconds:>9.3f}{_duration(p.total_seconds):>12}"
        )
    total = sum(p.total_seconds for p in plans)
    lines.append(f"{'total':<51}{_duration(total):>12}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
