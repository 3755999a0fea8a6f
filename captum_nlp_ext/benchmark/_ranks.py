"""A benchmark run shared among the ranks of a ``torchrun`` job.

Rank 0 opens the run folder (its settings checked, the records of a killed
job's ranks merged in) and tells every rank what is done; it builds the
resources into the run's cache, which the others then load. Every rank forms
the same batches and explains every ``world``-th one still missing, appending
its records to its own file; rank 0 merges them when all are done. Each
example is seeded by its number, so the records are those of one process.
"""

from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from captum_nlp_ext._utils.distributed import Ranks
from captum_nlp_ext._utils.progress import Progress
from captum_nlp_ext.benchmark._jobs import BatchWorker, Task
from captum_nlp_ext.benchmark.store import RankWriter, RunStore


def run_on_ranks(
    ranks: Ranks,
    out_dir: Path,
    settings: Mapping[str, Any],
    overwrite: bool,
    build: Callable[[Callable[[str], Path]], Dict[str, Any]],
    make_worker: Callable[[Dict[str, Any]], BatchWorker],
    batches: Sequence[List[int]],
    methods: Sequence[str],
    show_progress: bool,
) -> int:
    """Explain this rank's share; returns the run's failed explanations (rank
    0; the others return theirs)."""
    store: Optional[RunStore] = None
    plan: Any = None
    if ranks.main:
        try:
            store = RunStore(out_dir, settings, overwrite=overwrite)
            store.merge_rank_files()
            Progress.clear(store.run_dir)
            plan = sorted(store.done)
        except (ValueError, TypeError, OSError) as error:
            plan = " ".join(str(error).split())
    plan = ranks.broadcast(plan)
    if isinstance(plan, str):
        raise ValueError(plan)
    try:
        done = {(int(i), str(m)) for i, m in plan}
        run_dir = Path(out_dir)

        def cache(name: str) -> Path:
            (run_dir / "cache").mkdir(parents=True, exist_ok=True)
            return run_dir / "cache" / name

        resources = build(cache) if ranks.main else {}
        ranks.barrier()
        if not ranks.main:
            resources = build(cache)
        worker = make_worker(resources)
        tasks: List[Task] = []
        for rows in batches:
            missing = {m: [i for i in rows if (i, m) not in done] for m in methods}
            if any(missing.values()):
                tasks.append((rows, missing))
        todo = sum(len(w) for _, missing in tasks for w in missing.values())
        progress = Progress(
            run_dir,
            ranks.rank,
            ranks.world,
            todo,
            show=show_progress and ranks.main,
            desc="benchmark",
            unit="explanation",
        )
        writer: Any = store if store is not None else RankWriter(run_dir, ranks.rank)
        for task in tasks[ranks.rank :: ranks.world]:
            for records in worker.records(task):
                writer.append(records)
                progress.add(len(records), sum(1 for r in records if "failed" in r))
        progress.finish()
        ranks.barrier()
        if store is None:
            return progress.failed
        store.merge_rank_files()
        return store.failed
    finally:
        if store is not None:
            store.close()
