"""The work of a benchmark run, in this process or in ``jobs`` worker processes.

A task is one batch of the run and the methods still missing for it. A
:class:`BatchWorker` explains a task exactly as a run in one process does (the
same batch, its methods in the run's order, their metrics sharing the batch's
memo), so that every record is the same whichever process computed it. With
``jobs`` > 1 each worker process loads the model, sets its own torch threads and
loads the run's resources from the run's cache (the parent built them); the
parent process alone writes the run folder, as the records come back.
"""

import multiprocessing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch.nn import Module

from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.engine.batch import Explainer
from captum_nlp_ext.engine.resources import keep_resources
from captum_nlp_ext.engine.settings import build_run_resources, RunSettings
from captum_nlp_ext.huggingface import load_classifier, WindowedClassifier

Task = Tuple[List[int], Dict[str, List[int]]]
Record = Dict[str, Any]


def prepare_model(model: Module, tokenizer: Any, settings: RunSettings) -> Module:
    """The model the run explains: ``model``, or it through windows."""
    if settings.window is None:
        return model
    return WindowedClassifier(
        model,
        tokenizer.all_special_ids,
        window_size=settings.window,
        window_overlap=settings.window_overlap,
        pad_token_id=tokenizer.pad_token_id,
    )


class BatchWorker:
    """Explains tasks: every missing method of a batch, in the run's order."""

    def __init__(
        self, explainer: Explainer, settings: RunSettings, resources: Dict[str, Any]
    ) -> None:
        self.explainer, self.settings, self.resources = explainer, settings, resources

    def __call__(self, task: Task) -> List[List[Record]]:
        """The records of a task, one list per method."""
        return list(self.records(task))

    def records(
        self, task: Task, starting: Optional[Callable[[str], Any]] = None
    ) -> Iterator[List[Record]]:
        """The records of a task, method by method, as each is done;
        ``starting(name)`` is called before each method (the runner's progress
        bar shows it)."""
        rows, missing = task
        batch = self.explainer.batch(rows)
        for name in self.settings.names:
            if not missing.get(name):
                continue
            if starting is not None:
                starting(name)
            context = self.settings.context(name, self.resources)
            yield self.explainer.records(batch, name, context, missing[name])
        keep_resources(self.resources)


@dataclass(frozen=True)
class WorkerSpec:
    """What builds the run's :class:`BatchWorker`, in this process or in a
    worker process (sent to it once, when it starts: then ``model`` is a
    folder, ``cache_dir`` the run's cache and ``threads`` its torch threads)."""

    model: Union[Module, str]
    tokenizer: Any
    examples: Sequence[TextExample]
    settings: RunSettings
    metrics: Sequence[str]
    k: Optional[int]
    cache_dir: Optional[Path] = None
    threads: int = 1

    def worker(
        self, model: Module, tokenizer: Any, resources: Dict[str, Any]
    ) -> BatchWorker:
        """The worker explaining with ``model`` (the run's, prepared)."""
        explainer = Explainer(
            model,
            tokenizer,
            self.examples,
            self.settings.max_length,
            self.settings.window,
            self.metrics,
            self.k,
        )
        return BatchWorker(explainer, self.settings, resources)

    def for_processes(self, model: str, cache_dir: Path, threads: int) -> "WorkerSpec":
        """This spec for worker processes loading the model from ``model``."""
        return replace(self, model=model, cache_dir=cache_dir, threads=threads)


_WORKER: Dict[str, BatchWorker] = {}


def _start_worker(spec: WorkerSpec) -> None:
    torch.set_num_threads(spec.threads)
    if isinstance(spec.model, str):
        model, tokenizer = load_classifier(Path(spec.model))
    else:
        model, tokenizer = spec.model.eval(), spec.tokenizer
    model = prepare_model(model, tokenizer, spec.settings)
    cache_dir = spec.cache_dir
    assert cache_dir is not None
    resources = build_run_resources(
        spec.settings, model, tokenizer, cache=lambda name: cache_dir / name
    )
    _WORKER["worker"] = spec.worker(model, tokenizer, resources)


def _run_task(task: Task) -> List[List[Record]]:
    return _WORKER["worker"](task)


def run_in_processes(
    spec: WorkerSpec, tasks: Sequence[Task], jobs: int
) -> Iterator[List[Record]]:
    """The records of every task, one list per (batch, method), from ``jobs``
    worker processes (started with ``spawn``, so nothing of this process's
    state is shared), as each task is done; tasks are handed out in the order
    given, one at a time."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs, initializer=_start_worker, initargs=(spec,)) as pool:
        for per_method in pool.imap_unordered(_run_task, tasks):
            yield from per_method
