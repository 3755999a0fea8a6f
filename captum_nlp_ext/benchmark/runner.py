"""Run attribution methods x metrics x examples into a resumable run folder.

:func:`run_benchmark` explains the first ``n`` examples of a data set split
with every method, scores every explanation with every metric and appends one
line per (example, method) to ``results.jsonl`` (schema in
:mod:`captum_nlp_ext.benchmark.store`); a killed run resumes where it stopped.
"""

import datetime
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch.nn import Module
from tqdm.auto import tqdm

from captum_nlp_ext._utils.batching import DEFAULT_INTERNAL_BATCH_SIZE
from captum_nlp_ext._utils.checks import position_limit, resolve_max_length
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
from captum_nlp_ext.engine.batch import Explainer
from captum_nlp_ext.engine.methods import (
    build_resources,
    check_method_options,
    check_methods,
    METHODS,
    TEXT_RESOURCES,
)
from captum_nlp_ext.engine.metrics import (
    check_metrics,
    default_metrics,
    metric_settings,
)
from captum_nlp_ext.huggingface import class_names, load_classifier

_LOG = logging.getLogger("captum_nlp_ext")
PLAN_FILE = "plan.txt"


def run_benchmark(
    model: Union[Module, PathLike],
    dataset: Union[str, Sequence[TextExample]],
    out_dir: PathLike,
    *,
    tokenizer: Any = None,
    split: Optional[str] = None,
    methods: Sequence[str] = ("nlgp", "lig", "random"),
    metrics: Optional[Sequence[str]] = None,
    n: Optional[int] = None,
    budget: int = 128,
    batch_size: int = 16,
    seed: int = 0,
    max_length: Optional[int] = None,
    window: Optional[int] = None,
    window_overlap: int = 32,
    mlm: Union[None, Module, PathLike] = None,
    reference_pool: int = 1000,
    reference_texts: Optional[Sequence[str]] = None,
    method_options: Optional[Mapping[str, Mapping[str, Any]]] = None,
    internal_batch_size: int = DEFAULT_INTERNAL_BATCH_SIZE,
    data_dir: Optional[PathLike] = None,
    fields: Optional[Mapping[str, Optional[str]]] = None,
    skip_bad_rows: bool = False,
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

    Args:
        model (Module or path): A Hugging Face sequence classifier, or its
                    folder (then its tokenizer is loaded from it too).
        dataset (str, path or sequence of TextExample): ``"sst2"``,
                    ``"sst"``, ``"movies"``, ``"esnli"``, ``"mr"``, ``"imdb"``
                    (:data:`DATASETS`), a ``.jsonl``, ``.csv`` or ``.tsv`` file
                    or a ``datasets`` folder
                    (:class:`~captum_nlp_ext.datasets.files.DatasetFile`,
                    recorded by its file name; its examples are held for the
                    run), or the examples themselves (recorded as
                    ``"custom"``).
        out_dir (path): The run folder.
        tokenizer (PreTrainedTokenizerFast, optional): The model's fast
                    tokenizer; required when ``model`` is a module.
                    Default: None
        split (str, optional): The split. Default: None (sst2/sst/esnli
                    ``"dev"``, movies ``"val"``, imdb ``"valid"``, mr ``"all"``)
        methods (sequence of str): Registered method names
                    (:data:`~captum_nlp_ext.engine.methods.METHODS`).
                    Default: ("nlgp", "lig", "random")
        metrics (sequence of str, optional): Registered metric names. Default:
                    None (every metric the data set's gold supports)
        n (int, optional): Number of examples, the first of the split.
                    Default: None (all)
        budget (int): Model evaluations per example of the perturbation
                    methods (see each method's ``budget_rule``). Default: 128
        batch_size (int): Examples per batch. Default: 16
        seed (int): Seed of the sampling methods. Default: 0
        max_length (int, optional): Truncation length in tokens (words past
                    it are dropped from the example, their gold with them); with
                    ``window`` the truncated text is then cut into windows.
                    Default: None (128 tokens, fewer for a model with fewer
                    positions; whole documents with ``window``)
        window (int, optional): Classify whole documents (ERASER movies)
                    through overlapping windows of this many tokens
                    (:class:`~captum_nlp_ext.huggingface.WindowedClassifier`);
                    methods that need the input within the model's length
                    (``im``, ``lafa``) are refused. Default: None (truncate)
        window_overlap (int): Least tokens consecutive windows share.
                    Default: 32
        mlm (Module or path, optional): The masked language model of ``im``.
                    Default: None
        reference_pool (int): Training examples in LAFA's reference index
                    (the first of the data set's training split). Default: 1000
        reference_texts (sequence of str, optional): LAFA's reference pool
                    instead (e.g. for a custom data set). Default: None
        method_options (Mapping, optional): Per method, settings overriding its
                    defaults, e.g. ``{"marc": {"max_steps": 100}}``. Default: None
        internal_batch_size (int): Rows per model pass inside methods and
                    metrics. Default: 64
        data_dir (path, optional): The shared data folder. Default: None
                    (``CAPTUM_NLP_DATA`` or ``../shared/data``)
        fields (Mapping, optional): A file's fields (``text_field``,
                    ``label_field``, ``pair_field``, ``rationale_field``,
                    ``id_field``: :class:`DatasetFile`'s arguments). Default:
                    None (the text in ``"text"``)
        skip_bad_rows (bool): Leave a file's bad rows out (each logged with
                    its line, their lines recorded in ``run.json``) instead of
                    stopping at the first. Default: False
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
                    lengths with
                    every method, and write the plan (model rows and seconds an
                    example, estimated time of each method with ``jobs``) to
                    ``plan.txt`` in the run folder. Default: False

    Returns:
        The run folder.

    Raises:
        ValueError: Unknown method, metric, data set or split; a metric whose
                    gold the data set lacks; ``out_dir`` holding a run with other
                    settings (the keys are named).
    """
    methods = check_methods(methods)
    if max_length is not None:
        check_int("max_length", max_length, 2)
    for name, value in (
        ("jobs", jobs),
        ("budget", budget),
        ("batch_size", batch_size),
        ("reference_pool", reference_pool),
        ("internal_batch_size", internal_batch_size),
    ):
        check_int(name, value, 1)
    if n is not None:
        check_int("n", n, 1)
    if window is not None:
        check_int("window", window, 2)
        check_int("window_overlap", window_overlap, 0)
        refused = [m for m in methods if not METHODS[m].windows]
        if refused:
            raise ValueError(
                f"methods {refused} need inputs within the model's length and cannot "
                f"run through windows (window={window}); leave them out, or truncate "
                "instead of `window`."
            )
    options = check_method_options(methods, method_options)
    model, tokenizer, model_label, model_path = _classifier(
        model, tokenizer, model_name
    )
    check_methods(methods, model)
    limit = position_limit(model)
    if window is None:
        max_length = resolve_max_length(
            max_length,
            model,
            "; lower it, or read whole documents through windows (`window`)",
        )
    if window is not None and limit is not None and window > limit:
        raise ValueError(f"`window` {window} is past the model's {limit} positions.")
    data = RunData.load(
        dataset,
        split,
        n,
        data_dir,
        fields=fields,
        classes=_classes(model),
        skip_bad_rows=skip_bad_rows,
    )
    data.report_truncation(tokenizer, max_length, window)
    if window is not None and any(e.text_pair_words is not None for e in data.examples):
        raise ValueError("`window` does not support text pairs.")
    model_source, base_model = model_path, model
    model = prepare_model(model, tokenizer, window, window_overlap)
    metrics = (
        default_metrics(data.spec.rationales, data.spec.word_scores)
        if metrics is None
        else check_metrics(metrics, data.spec.rationales, data.spec.word_scores)
    )
    k, k_source = data.rationale_k(metrics, tokenizer, max_length)
    method_settings = {name: METHODS[name].record(options[name]) for name in methods}
    # What a method needs (its spec's `needs`) is recorded with its settings.
    needs = {need for name in methods for need in METHODS[name].needs}
    pool = ""
    if needs & TEXT_RESOURCES:
        if reference_texts is None:
            reference_texts = data.reference_texts(reference_pool)
            pool = f"the first {len(reference_texts)} of {data.name} "
            pool += str(data.spec.train_split)
        else:
            reference_texts = list(reference_texts)
            pool = f"{len(reference_texts)} given texts"
    resource_labels = {"mlm": _label(mlm), "reference_index": pool, "diffmask": pool}
    keys = {"reference_index": "reference_pool", "diffmask": "fit_texts"}
    for name in methods:
        for need in METHODS[name].needs:
            key = keys.get(need, need)
            method_settings[name]["settings"][key] = resource_labels[need]
    settings = {
        "schema": SCHEMA,
        "model": model_label,
        "dataset": data.name,
        "split": data.split,
        "n": len(data.examples),
        **({"skipped_rows": data.skipped} if data.skipped else {}),
        **({"fields": data.fields} if data.fields is not None else {}),
        "methods": methods,
        "metrics": metrics,
        "budget": budget,
        "seed": seed,
        "batch_size": batch_size,
        "max_length": max_length,
        "window": (
            None if window is None else {"size": window, "overlap": window_overlap}
        ),
        "method_settings": method_settings,
        "metric_settings": metric_settings(metrics, k, k_source),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
    }
    settings["model_path"] = model_path
    settings["classes"] = class_names(model)
    ranks = Ranks.from_environment()
    if ranks.world > 1:
        try:
            if jobs > 1 or dry_run:
                raise ValueError(
                    "`jobs` and `dry_run` are for one process; under torchrun "
                    "every rank explains its share of the batches."
                )
            model = model.to(ranks.device)
            explainer = Explainer(
                model, tokenizer, data.examples, max_length, window, metrics, k
            )
            failed = run_on_ranks(
                ranks,
                Path(out_dir),
                settings,
                overwrite,
                lambda cache: build_resources(
                    methods,
                    model,
                    tokenizer,
                    mlm=mlm,
                    reference_texts=reference_texts,
                    cache=cache,
                    method_options=options,
                ),
                lambda resources: BatchWorker(
                    explainer,
                    methods,
                    resources,
                    options,
                    seed,
                    budget,
                    internal_batch_size,
                ),
                data.batches(batch_size),
                methods,
                show_progress,
            )
        finally:
            ranks.close()
        if failed and ranks.main:
            _LOG.warning("%d explanation(s) failed; results.jsonl lists them", failed)
        return Path(out_dir)
    with RunStore(out_dir, settings, overwrite=overwrite) as store:
        if needs & TEXT_RESOURCES:
            _LOG.info(
                "reference index: %d texts (%s)", len(reference_texts or ()), pool
            )
        started = time.perf_counter()
        resources = build_resources(
            methods,
            model,
            tokenizer,
            mlm=mlm,
            reference_texts=reference_texts,
            cache=store.cache_path,
            method_options=options,
        )
        _LOG.info(
            "explaining %d examples of %s %s with %s",
            len(data.examples),
            data.name,
            data.split,
            ", ".join(methods),
        )
        run = Explainer(model, tokenizer, data.examples, max_length, window, metrics, k)
        worker = BatchWorker(
            run, methods, resources, options, seed, budget, internal_batch_size
        )
        tasks: List[Task] = []
        for rows in data.batches(batch_size):
            missing = {
                name: [i for i in rows if (i, name) not in store.done]
                for name in methods
            }
            if any(missing.values()):
                tasks.append((rows, missing))
        if dry_run:
            _write_plan(store, data, worker, tasks, batch_size, jobs, started)
            return store.run_dir
        progress = tqdm(
            total=len(data.examples) * len(methods),
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
            done = run_in_processes(
                WorkerSpec(
                    model_source or _saved_copy(store, base_model, tokenizer),
                    tokenizer,
                    data.examples,
                    max_length,
                    window,
                    window_overlap,
                    metrics,
                    k,
                    methods,
                    options,
                    seed,
                    budget,
                    internal_batch_size,
                    mlm,
                    reference_texts,
                    store.cache_dir,
                    torch.get_num_threads(),
                ),
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
    batch_size: int,
    jobs: int,
    started: float,
) -> None:
    resources_seconds = time.perf_counter() - started
    remaining: Dict[str, int] = {}
    for _, missing in tasks:
        for name, wanted in missing.items():
            remaining[name] = remaining.get(name, 0) + len(wanted)
    sample = calibration_rows(
        data.length_order(), min(batch_size, CALIBRATION_EXAMPLES)
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
