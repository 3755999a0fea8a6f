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
from dataclasses import dataclass
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import torch
from torch.nn import Module

from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.engine.batch import Explainer
from captum_nlp_ext.engine.resources import build_resources, keep_resources
from captum_nlp_ext.huggingface import load_classifier, WindowedClassifier

Task = Tuple[List[int], Dict[str, List[int]]]
Record = Dict[str, Any]


def prepare_model(
    model: Module, tokenizer: Any, window: Optional[int], window_overlap: int
) -> Module:
    """The model the run explains: ``model``, or it through windows."""
    if window is None:
        return model
    return WindowedClassifier(
        model,
        tokenizer.all_special_ids,
        window_size=window,
        window_overlap=window_overlap,
        pad_token_id=tokenizer.pad_token_id,
    )


class BatchWorker:
    """Explains tasks: every missing method of a batch, in the run's order."""

    def __init__(
        self,
        explainer: Explainer,
        methods: Sequence[str],
        resources: Dict[str, Any],
        options: Mapping[str, Mapping[str, Any]],
        seed: int,
        budget: int,
        internal_batch_size: int,
    ) -> None:
        self.explainer, self.methods, self.resources = explainer, methods, resources
        self.options, self.seed, self.budget = options, seed, budget
        self.internal_batch_size = internal_batch_size

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
        for name in self.methods:
            if not missing.get(name):
                continue
            if starting is not None:
                starting(name)
            yield self.explainer.records(batch, name, self.context(name), missing[name])
        keep_resources(self.resources)

    def context(self, name: str) -> Dict[str, Any]:
        """The run's settings of method ``name`` (MethodContext's)."""
        return dict(
            seed=self.seed,
            budget=self.budget,
            resources=self.resources,
            internal_batch_size=self.internal_batch_size,
            options=dict(self.options[name]),
        )


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to rebuild the run's :class:`BatchWorker`
    (sent to it once, when it starts)."""

    model: Union[Module, str]
    tokenizer: Any
    examples: Sequence[TextExample]
    max_length: Optional[int]
    window: Optional[int]
    window_overlap: int
    metrics: Sequence[str]
    k: Optional[int]
    methods: Sequence[str]
    options: Mapping[str, Mapping[str, Any]]
    seed: int
    budget: int
    internal_batch_size: int
    mlm: Any
    reference_texts: Optional[Sequence[str]]
    cache_dir: Path
    threads: int


_WORKER: Dict[str, BatchWorker] = {}


def _start_worker(spec: WorkerSpec) -> None:
    torch.set_num_threads(spec.threads)
    if isinstance(spec.model, str):
        model, tokenizer = load_classifier(Path(spec.model))
    else:
        model, tokenizer = spec.model.eval(), spec.tokenizer
    model = prepare_model(model, tokenizer, spec.window, spec.window_overlap)
    resources = build_resources(
        spec.methods,
        model,
        tokenizer,
        mlm=spec.mlm,
        reference_texts=spec.reference_texts,
        cache=lambda name: spec.cache_dir / name,
        method_options={k: dict(v) for k, v in spec.options.items()},
    )
    explainer = Explainer(
        model,
        tokenizer,
        spec.examples,
        spec.max_length,
        spec.window,
        spec.metrics,
        spec.k,
    )
    _WORKER["worker"] = BatchWorker(
        explainer,
        spec.methods,
        resources,
        spec.options,
        spec.seed,
        spec.budget,
        spec.internal_batch_size,
    )


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
