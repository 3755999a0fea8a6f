"""Run attribution methods x metrics x examples into a resumable run folder.

:func:`run_benchmark` explains the first ``n`` examples of a data set split
with every method, scores every explanation with every metric and appends one
line per (example, method) to ``results.jsonl`` (schema in
:mod:`captum_nlp_ext.benchmark.store`); a killed run resumes where it stopped.
"""

import dataclasses
import datetime
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch.nn import Module
from tqdm.auto import tqdm

from captum_nlp_ext._utils.checks import position_limit
from captum_nlp_ext._utils.distributed import Ranks
from captum_nlp_ext._utils.environment import machine, versions
from captum_nlp_ext._utils.fingerprint import model_fingerprint
from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext._utils.validation import check_int
from captum_nlp_ext.benchmark._data import RunData
from captum_nlp_ext.benchmark._jobs import (
    BatchWorker,
    prepare_model,
    run_in_processes,
    Task,
    WorkerSpec,
)
from captum_nlp_ext.benchmark._plan import (
    calibrate,
    CALIBRATION_EXAMPLES,
    calibration_rows,
    plan_table,
)
from captum_nlp_ext.benchmark._ranks import run_on_ranks
from captum_nlp_ext.benchmark.store import RunStore, SCHEMA
from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.engine.methods import METHODS, TEXT_RESOURCES
from captum_nlp_ext.engine.metrics import (
    check_metrics,
    default_metrics,
    metric_settings,
)
from captum_nlp_ext.engine.settings import (
    build_run_resources,
    DataSource,
    run_keywords,
    RunSettings,
)
from captum_nlp_ext.huggingface import class_names, load_classifier

_LOG = logging.getLogger("captum_nlp_ext")
PLAN_FILE = "plan.txt"


#: The methods of a benchmark that names none.
DEFAULT_METHODS = ("nlgp", "lig", "random")


@run_keywords(data=True)
def run_benchmark(
    model: Union[Module, PathLike],
    dataset: Union[DataSource, str, PathLike, Sequence[TextExample]],
    out_dir: PathLike,
    settings: Optional[RunSettings] = None,
    *,
    tokenizer: Any = None,
    metrics: Optional[Sequence[str]] = None,
    model_name: Optional[str] = None,
    overwrite: bool = False,
    show_progress: bool = True,
    jobs: int = 1,
    dry_run: bool = False,
) -> Path:
    """Explain the first ``n`` examples with each method, score each explanation
    with each metric and write the run folder ``out_dir``.

    Batches are formed from examples sorted by length (number of words), each
    padded to its longest example; every metric is computed per example and
    every method is deterministic given ``seed``, so an example's results do not
    depend on the examples it is batched with. An existing run folder with the
    same settings is resumed: (example, method) pairs already in
    ``results.jsonl`` are not recomputed.

    Example::

        run_benchmark(
            "minilm-sst2",
            DataSource("sst2", n=50),
            "runs/sst2",
            RunSettings(methods=("nlgp", "lig", "random"), budget=64),
        )

    Args:
        model (Module or path): A Hugging Face sequence classifier, or its
                    folder (then its tokenizer is loaded from it too).
        dataset (DataSource, str, path or sequence of TextExample): The
                    examples (:class:`~captum_nlp_ext.benchmark.DataSource`;
                    a name, path or examples alone mean all of them, from the
                    default split): ``"sst2"``, ``"sst"``, ``"movies"``,
                    ``"esnli"``, ``"mr"``, ``"imdb"`` (:data:`DATASETS`; split
                    by default sst2/sst/esnli ``"dev"``, movies ``"val"``, imdb
                    ``"valid"``, mr ``"all"``), a ``.jsonl``, ``.csv`` or
                    ``.tsv`` file or a ``datasets`` folder (recorded by its
                    file name; its examples are held for the run), or the
                    examples themselves (recorded as ``"custom"``).
        out_dir (path): The run folder.
        settings (RunSettings, optional): How each example is explained
                    (:class:`~captum_nlp_ext.benchmark.RunSettings`:
                    methods, budget, seed, batch size, lengths, windows, the
                    methods' resources). With ``window``, methods that need the
                    input within the model's length (``im``, ``lafa``) are
                    refused; ``max_length`` then cuts the text before it is cut
                    into windows. Default: None (``RunSettings()`` with the
                    methods ``("nlgp", "lig", "random")``)
        tokenizer (PreTrainedTokenizerFast, optional): The model's fast
                    tokenizer; required when ``model`` is a module.
                    Default: None
        metrics (sequence of str, optional): Registered metric names. Default:
                    None (every metric the data set's gold supports)
        model_name (str, optional): What ``run.json`` records as the model.
                    Default: None (the folder, or the module's class name)
        overwrite (bool): Start afresh even if ``out_dir`` holds a run.
                    Default: False
        show_progress (bool): Show a progress bar over examples x methods.
                    Default: True
        jobs (int): Worker processes on this machine (for many machines, or
                    PyTorch's own launcher, start the run under ``torchrun``
                    instead: each rank explains every ``WORLD_SIZE``-th batch,
                    writes its own file, and rank 0 merges them), each with the torch
                    threads of this one (``torch.set_num_threads``); the batches
                    are shared out among them and this process writes the run
                    folder. Every record is the same as with one process (only
                    its cost differs). Default: 1 (this process explains)
        dry_run (bool): Do not run: build the resources (kept in the run's
                    cache for the run), explain a calibration sample of
                    ``min(batch_size, 4)`` examples spread over the run's
                    lengths with every method, and write the plan (model rows
                    and seconds an example, estimated time of each method with
                    ``jobs``) to ``plan.txt`` in the run folder. Default: False

    Returns:
        The run folder.

    Raises:
        ValueError: Unknown method, metric, data set or split; a metric whose
                    gold the data set lacks; ``out_dir`` holding a run with other
                    settings (the keys are named).
    """
    settings = RunSettings.given(settings, DEFAULT_METHODS)
    source = DataSource.of(dataset)
    check_int("jobs", jobs, 1)
    model, tokenizer, model_label, model_path = _classifier(
        model, tokenizer, model_name
    )
    settings = settings.for_model(
        model, "; lower it, or read whole documents through windows (`window`)"
    )
    limit = position_limit(model)
    window = settings.window
    if window is not None and limit is not None and window > limit:
        raise ValueError(f"`window` {window} is past the model's {limit} positions.")
    data = RunData.load(source, classes=_classes(model))
    data.report_truncation(tokenizer, settings.max_length, window)
    if window is not None and any(e.text_pair_words is not None for e in data.examples):
        raise ValueError("`window` does not support text pairs.")
    model_source, base_model = model_path, model
    model = prepare_model(model, tokenizer, settings)
    metrics = (
        default_metrics(data.spec.rationales, data.spec.word_scores)
        if metrics is None
        else check_metrics(metrics, data.spec.rationales, data.spec.word_scores)
    )
    k, k_source = data.rationale_k(metrics, tokenizer, settings.max_length)
    settings, pool = _with_reference_texts(settings, data)
    record = _run_record(settings, data, metrics, (k, k_source), pool, model_label)
    # Where the model was and its classes close the record (run.json's order).
    record.update(model_path=model_path, classes=class_names(model))
    spec = WorkerSpec(model, tokenizer, data.examples, settings, metrics, k)
    ranks = Ranks.from_environment()
    if ranks.world > 1:
        if jobs > 1 or dry_run:
            ranks.close()
            raise ValueError(
                "`jobs` and `dry_run` are for one process; under torchrun "
                "every rank explains its share of the batches."
            )
        batches = data.batches(settings.batch_size)
        return _run_on_ranks(
            ranks, spec, Path(out_dir), record, batches, overwrite, show_progress
        )
    with RunStore(out_dir, record, overwrite=overwrite) as store:
        if settings.needs & TEXT_RESOURCES:
            _LOG.info(
                "reference index: %d texts (%s)",
                len(settings.reference_texts or ()),
                pool,
            )
        started = time.perf_counter()
        resources = build_run_resources(
            settings, model, tokenizer, cache=store.cache_path
        )
        _LOG.info(
            "explaining %d examples of %s %s with %s",
            len(data.examples),
            data.name,
            data.split,
            ", ".join(settings.names),
        )
        worker = spec.worker(model, tokenizer, resources)
        tasks: List[Task] = []
        for rows in data.batches(settings.batch_size):
            missing = {
                name: [i for i in rows if (i, name) not in store.done]
                for name in settings.names
            }
            if any(missing.values()):
                tasks.append((rows, missing))
        if dry_run:
            _write_plan(store, data, worker, tasks, jobs, started)
            return store.run_dir
        progress = tqdm(
            total=len(data.examples) * len(settings.names),
            initial=len(store.done),
            desc="benchmark",
            unit="explanation",
            disable=not show_progress,
        )
        if jobs == 1:
            done: Iterable[List[Dict[str, Any]]] = (
                records
                for task in tasks
                for records in worker.records(task, progress.set_postfix_str)
            )
        else:
            # Longest batches first: the run does not wait on one at its end.
            loadable = model_source or _saved_copy(store, base_model, tokenizer)
            done = run_in_processes(
                spec.for_processes(loadable, store.cache_dir, torch.get_num_threads()),
                tasks[::-1],
                jobs,
            )
        with progress:
            for records in done:
                store.append(records)
                progress.update(len(records))
        failed = store.failed
    if failed:
        _LOG.warning(
            "%d explanation(s) failed; results.jsonl and the report list them", failed
        )
    return store.run_dir


def _with_reference_texts(
    settings: RunSettings, data: RunData
) -> Tuple[RunSettings, str]:
    """The settings with the texts of LAFA's index and DiffMask's probe
    filled in where the methods need them, and how run.json names them."""
    if not settings.needs & TEXT_RESOURCES:
        return settings, ""
    if settings.reference_texts is not None:
        return settings, f"{len(settings.reference_texts)} given texts"
    texts = tuple(data.reference_texts(settings.reference_pool))
    pool = f"the first {len(texts)} of {data.name} {data.spec.train_split}"
    return dataclasses.replace(settings, reference_texts=texts), pool


def _run_record(
    settings: RunSettings,
    data: RunData,
    metrics: Sequence[str],
    rationale_k: Tuple[Optional[int], Any],
    pool: str,
    model_label: str,
) -> Dict[str, Any]:
    """run.json's settings, but the model's folder and classes."""
    methods = list(settings.names)
    method_settings = {
        name: METHODS[name].record(settings.options(name)) for name in methods
    }
    # What a method needs (its spec's `needs`) is recorded with its settings.
    resource_labels = {
        "mlm": _label(settings.mlm),
        "reference_index": pool,
        "diffmask": pool,
    }
    keys = {"reference_index": "reference_pool", "diffmask": "fit_texts"}
    for name in methods:
        for need in METHODS[name].needs:
            key = keys.get(need, need)
            method_settings[name]["settings"][key] = resource_labels[need]
    window = settings.window
    return {
        "schema": SCHEMA,
        "model": model_label,
        "dataset": data.name,
        "split": data.split,
        "n": len(data.examples),
        **({"skipped_rows": data.skipped} if data.skipped else {}),
        **({"fields": data.fields} if data.fields is not None else {}),
        "methods": methods,
        "metrics": list(metrics),
        "budget": settings.budget,
        "seed": settings.seed,
        "batch_size": settings.batch_size,
        "max_length": settings.max_length,
        "window": (
            None
            if window is None
            else {"size": window, "overlap": settings.window_overlap}
        ),
        "method_settings": method_settings,
        "metric_settings": metric_settings(metrics, *rationale_k),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
    }


def _run_on_ranks(
    ranks: Ranks,
    spec: WorkerSpec,
    out_dir: Path,
    record: Dict[str, Any],
    batches: List[List[int]],
    overwrite: bool,
    show_progress: bool,
) -> Path:
    """A run under torchrun: each rank explains its share of the batches."""
    try:
        assert isinstance(spec.model, Module)
        model = spec.model.to(ranks.device)
        settings = spec.settings
        failed = run_on_ranks(
            ranks,
            out_dir,
            record,
            overwrite,
            lambda cache: build_run_resources(
                settings, model, spec.tokenizer, cache=cache
            ),
            lambda resources: spec.worker(model, spec.tokenizer, resources),
            batches,
            list(settings.names),
            show_progress,
        )
    finally:
        ranks.close()
    if failed and ranks.main:
        _LOG.warning("%d explanation(s) failed; results.jsonl lists them", failed)
    return out_dir


def _saved_copy(store: RunStore, model: Module, tokenizer: Any) -> str:
    """A folder the worker processes load a model given as a module from:
    saved once in the run's cache (modules with hooks do not pickle)."""
    # A VMaskClassifier saves with `save` (the classifier and its masks).
    saver = getattr(model, "save_pretrained", None) or getattr(model, "save", None)
    if saver is None or not hasattr(tokenizer, "save_pretrained"):
        raise ValueError(
            "`jobs` > 1 needs the model as a folder, or a Hugging Face model and "
            f"tokenizer with `save_pretrained`; got {type(model).__name__}."
        )
    folder = store.cache_path("model-" + model_fingerprint(model)["weights"][:16])
    if not (folder / "config.json").is_file():
        partial = folder.with_name(folder.name + ".partial")
        saver(str(partial))
        tokenizer.save_pretrained(str(partial))
        partial.replace(folder)
    return str(folder)


def _write_plan(
    store: RunStore,
    data: RunData,
    worker: BatchWorker,
    tasks: List[Task],
    jobs: int,
    started: float,
) -> None:
    resources_seconds = time.perf_counter() - started
    remaining: Dict[str, int] = {}
    for _, missing in tasks:
        for name, wanted in missing.items():
            remaining[name] = remaining.get(name, 0) + len(wanted)
    sample = calibration_rows(
        data.length_order(), min(worker.settings.batch_size, CALIBRATION_EXAMPLES)
    )
    plans = calibrate(worker, sample, remaining, jobs)
    table = plan_table(plans, resources_seconds, len(sample))
    (store.run_dir / PLAN_FILE).write_text(table + "\n", encoding="utf-8")
    _LOG.info("plan:\n%s", table)


def _classifier(
    model: Union[Module, PathLike], tokenizer: Any, model_name: Optional[str]
) -> Tuple[Module, Any, str, Optional[str]]:
    """The model, its tokenizer, its label in run.json (a folder's name, not
    its path on this machine) and its folder's path."""
    if isinstance(model, Module):
        if tokenizer is None:
            raise ValueError("`tokenizer` is required when `model` is a module.")
        return model.eval(), tokenizer, model_name or type(model).__name__, None
    _LOG.info("loading the model %s", Path(model).name)
    loaded, loaded_tokenizer = load_classifier(Path(model))
    label = model_name or Path(model).resolve().name
    return loaded, tokenizer or loaded_tokenizer, label, str(model)


def _classes(model: Module) -> List[str]:
    """The class names a file's labels may use (placeholders ``LABEL_i``
    where the model names none)."""
    count = int(getattr(getattr(model, "config", None), "num_labels", 2))
    return class_names(model) or [f"LABEL_{i}" for i in range(count)]


def _label(thing: Any) -> Optional[str]:
    if thing is None or isinstance(thing, (str, os.PathLike)):
        return None if thing is None else str(thing)
    return type(thing).__name__
