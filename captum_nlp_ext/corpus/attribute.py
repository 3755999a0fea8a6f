"""Attributions for a whole corpus, on one process or many (``torchrun``).

:func:`attribute_corpus` explains every example of a data set with every
method, without metrics, into sharded Parquet files (schema in
:mod:`captum_nlp_ext.corpus.shards`). Under ``torchrun`` each rank loads the
model once and explains its share of the shards; no two processes write one
file. The input is read lazily: each rank streams the file once and holds one
shard's examples at a time, so memory does not grow with the corpus.

Results do not depend on the sharding: example number ``i`` is explained with
the seed ``example_seed(seed, i)`` whatever rank explains it, so one process
and any number of ranks write the same rows. A killed run (any rank, or all)
resumes with any number of ranks: the shards on disk are done, the others are
shared out again.
"""

import datetime
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from torch.nn import Module

from captum_nlp_ext._utils.distributed import Ranks
from captum_nlp_ext._utils.environment import machine, versions
from captum_nlp_ext._utils.files import write_text_atomic
from captum_nlp_ext._utils.progress import Progress
from captum_nlp_ext._utils.settings import describe_differences, settings_differences
from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext._utils.validation import check_int
from captum_nlp_ext.corpus._chunks import ShardExplainer
from captum_nlp_ext.corpus.shards import (
    SCHEMA_VERSION,
    SCORE_DTYPES,
    shard_files,
    shard_name,
    shard_number,
    SHARDS_DIR,
    write_shard,
)
from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.datasets.files import FileRow
from captum_nlp_ext.engine.methods import METHODS, TEXT_RESOURCES
from captum_nlp_ext.engine.settings import (
    build_run_resources,
    DataSource,
    run_keywords,
    RunSettings,
)
from captum_nlp_ext.engine.sources import open_source, Source
from captum_nlp_ext.huggingface import class_names, load_classifier

_LOG = logging.getLogger("captum_nlp_ext")
MANIFEST_FILE = "manifest.json"
CACHE_DIR = "cache"
CLAIMS_DIR = "claims"
# The default shard size's bounds (about 256 shards a corpus between them).
MIN_SHARD, MAX_SHARD = 16, 1024
# Keys of the manifest that may differ when a run is resumed.
_VOLATILE = ("started", "versions", "machine", "summary", "model_path", "classes")


@dataclass(frozen=True)
class CorpusRun:
    """What a call of :func:`attribute_corpus` did.

    Attributes:
        run_dir (Path): The run folder.
        examples (int): Examples in the run (all shards).
        explained (int): Examples this job explained (the others were on
                    disk already).
        failed (int): Examples of this job recorded as failed.
        seconds (float): Wall time of this job.
        ranks (int): Processes that shared the job.
    """

    run_dir: Path
    examples: int
    explained: int
    failed: int
    seconds: float
    ranks: int

    @property
    def examples_per_second(self) -> float:
        """Examples this job explained per second of wall time."""
        return self.explained / self.seconds if self.seconds > 0 else 0.0


#: The methods of a corpus run that names none.
DEFAULT_METHODS = ("nlgp",)


@run_keywords(data=True)
def attribute_corpus(
    model: Union[Module, PathLike],
    dataset: Union[DataSource, str, PathLike, Sequence[TextExample]],
    out_dir: PathLike,
    settings: Optional[RunSettings] = None,
    *,
    tokenizer: Any = None,
    shard_size: Optional[int] = None,
    score_dtype: str = "float16",
    model_name: Optional[str] = None,
    overwrite: bool = False,
    show_progress: bool = True,
    device: Optional[str] = None,
) -> CorpusRun:
    """Explain every example of ``dataset`` with every method into ``out_dir``.

    Run it as it is for one process, or start the same program with
    ``torchrun --nproc-per-node N [--nnodes M --rdzv-endpoint HOST:PORT ...]``:
    the ranks share the missing shards out as they go (each claims the next
    one nobody has, so a fast rank takes more). On several machines
    ``out_dir`` must be a folder all of them see (a shared file system).

    Example::

        attribute_corpus(
            "minilm-sst2",
            DataSource("reviews.jsonl", fields={"text_field": "review"}),
            "runs/reviews",
            RunSettings(methods=("nlgp", "lig"), budget=64),
        )

    Args:
        model (Module or path): A Hugging Face sequence classifier, or its
                    folder (then its tokenizer is loaded from it too).
        dataset (DataSource, str, path or sequence of TextExample): The
                    examples (:class:`~captum_nlp_ext.benchmark.DataSource`;
                    a name, path or examples alone mean all of them): a
                    ``.jsonl``, ``.csv`` or ``.tsv`` file, a ``datasets``
                    folder (:class:`~captum_nlp_ext.datasets.files.DatasetFile`),
                    a named data set (``"sst2"``, ``"imdb"``, ...; its first
                    split by default), or examples. With ``skip_bad_rows`` a
                    bad row is recorded as failed instead of stopping the run.
        out_dir (path): The run folder.
        settings (RunSettings, optional): How each example is explained
                    (:class:`~captum_nlp_ext.benchmark.RunSettings`; each
                    example's seed comes from its ``seed``); ``reference_texts``
                    (or a named data set's training split, its first
                    ``reference_pool``) are LAFA's reference pool and
                    DiffMask's probe texts, and must be given for a file;
                    ``window`` is not supported. Default: None
                    (``RunSettings()`` with the method ``("nlgp",)``)
        tokenizer (PreTrainedTokenizerFast, optional): The model's tokenizer;
                    required when ``model`` is a module. Default: None
        shard_size (int, optional): Examples per shard file (what a killed rank
                    loses at most, and what each rank holds at once).
                    Default: None (a resumed run's; else about 256 shards:
                    the examples / 256, between 16 and 1,024)
        score_dtype (str): ``"float16"`` or ``"float32"``. Default: "float16"
        model_name (str, optional): The model's name in the metadata.
                    Default: None (the folder's, or the module's class name)
        overwrite (bool): Start afresh, deleting the folder's shards.
                    Default: False
        show_progress (bool): Rank 0's progress bar over all ranks.
                    Default: True
        device (str, optional): ``"cpu"`` or ``"cuda"``. Default: None (one GPU
                    per rank when there is one, else the CPU)

    Returns:
        CorpusRun: what the job did (every rank returns the job's numbers).

    Raises:
        ValueError: A bad argument (named), a bad row (file and line named;
                    see ``skip_bad_rows``), or a folder holding another run.
    """
    settings = RunSettings.given(settings, DEFAULT_METHODS)
    if settings.window is not None:
        raise ValueError("`window`: a corpus run truncates (`max_length`).")
    job = _Job(
        DataSource.of(dataset), Path(out_dir), shard_size, score_dtype, overwrite
    )
    ranks = Ranks.from_environment(device)
    try:
        return _attribute(
            ranks, model, tokenizer, model_name, settings, job, show_progress
        )
    finally:
        ranks.close()


@dataclass(frozen=True)
class _Job:
    """Where a corpus run reads and writes, as given."""

    source: DataSource
    run_dir: Path
    shard_size: Optional[int]
    score_dtype: str
    overwrite: bool

    def __post_init__(self) -> None:
        if self.shard_size is not None:
            check_int("shard_size", self.shard_size, 1)
        if self.score_dtype not in SCORE_DTYPES:
            raise ValueError(
                f"`score_dtype` must be one of {SCORE_DTYPES}; got "
                f"{self.score_dtype!r}."
            )


def _attribute(
    ranks: Ranks,
    model: Any,
    tokenizer: Any,
    model_name: Optional[str],
    settings: RunSettings,
    job: _Job,
    show_progress: bool,
) -> CorpusRun:
    model, tokenizer, label, model_path = _classifier(model, tokenizer, model_name)
    settings = settings.for_model(model)
    methods = list(settings.names)
    model = model.to(ranks.device)
    classes = class_names(model) or [
        f"LABEL_{i}" for i in range(int(getattr(model.config, "num_labels", 2)))
    ]
    data = job.source
    source = open_source(data, classes)
    run_dir = job.run_dir
    record = {
        "schema": SCHEMA_VERSION,
        "command": "attribute",
        "model": label,
        "classes": classes,
        "dataset": source.name,
        "split": source.split,
        "fields": source.fields,
        "methods": methods,
        "method_settings": {m: METHODS[m].record(settings.options(m)) for m in methods},
        "seed": settings.seed,
        "budget": settings.budget,
        "max_length": settings.max_length,
        "score_dtype": job.score_dtype,
        "reference_pool": _pool_label(methods, settings.reference_texts, source),
    }
    # Rank 0 decides (the run's size, what is missing) and tells the others; an
    # error there reaches every rank, so that none waits for the others forever.
    plan = ranks.broadcast(_plan(record, source, job, data.n) if ranks.main else None)
    if isinstance(plan, str):
        raise ValueError(plan)
    total, shard_size, missing, started, job_id = plan
    record = {**record, "n": total, "shard_size": shard_size}
    if settings.needs & TEXT_RESOURCES and settings.reference_texts is None:
        texts = source.reference_texts(settings.reference_pool)
        settings = replace(settings, reference_texts=tuple(texts))
    resources = _resources(ranks, settings, model, tokenizer, run_dir)
    explainer = ShardExplainer(model, tokenizer, settings, resources)
    todo = sum(_shard_rows(s, shard_size, total) for s in missing)
    shards = run_dir / SHARDS_DIR
    claims = _Claims(run_dir / CLAIMS_DIR / job_id, set(missing), shard_size, total)
    metadata = {**record, "versions": versions(), "machine": machine()}
    show = show_progress and ranks.main
    with Progress(run_dir, ranks.rank, ranks.world, todo, show=show) as progress:
        for shard, rows in _my_shards(source, claims, shard_size, total):
            records = explainer.rows(rows, done=progress.add)
            write_shard(shards / shard_name(shard), records, metadata, job.score_dtype)
            progress.add(0, len({r["example"] for r in records if r["failed"]}))
        states = progress.finish()
    seconds = time.time() - started
    summary = _summary(run_dir, states, total, seconds, ranks.world)
    if ranks.main:
        _write_manifest(run_dir, {**metadata, "started": _now(started)}, summary)
    ranks.barrier()
    return CorpusRun(
        run_dir,
        total,
        summary["explained"],
        summary["failed"],
        seconds,
        ranks.world,
    )


def _plan(settings: Dict[str, Any], source: Source, job: _Job, n: Optional[int]) -> Any:
    """(examples, shard size, missing shards, start time, this job's id), or
    the message of what is wrong."""
    started = time.time()
    try:
        total = source.count()
        if n is not None:
            total = min(total, n)
        if total == 0:
            raise ValueError(f"`dataset` {source.name} holds no examples.")
        run_dir = job.run_dir
        size = job.shard_size or _stored_shard_size(run_dir, job.overwrite)
        size = size or min(MAX_SHARD, max(MIN_SHARD, -(-total // 256)))
        current = {**settings, "n": total, "shard_size": size}
        _open_folder(run_dir, current, job.overwrite)
        done = {shard_number(p) for p in shard_files(run_dir)}
        count = -(-total // size)
        missing = [s for s in range(count) if s not in done]
        Progress.clear(run_dir)
        # A killed job's claims are void: its unwritten shards are missing.
        shutil.rmtree(run_dir / CLAIMS_DIR, ignore_errors=True)
        if len(done):
            _LOG.info(
                "resuming %s: %d of %d shards done",
                run_dir,
                count - len(missing),
                count,
            )
    except (ValueError, TypeError, FileNotFoundError) as error:
        return " ".join(str(error).split())
    return total, size, missing, started, uuid.uuid4().hex


def _stored_shard_size(run_dir: Path, overwrite: bool) -> Optional[int]:
    """The shard size of the run being resumed (a default is not recomputed)."""
    manifest = run_dir / MANIFEST_FILE
    if overwrite or not manifest.is_file():
        return None
    size = json.loads(manifest.read_text(encoding="utf-8")).get("shard_size")
    return size if isinstance(size, int) and size >= 1 else None


def _open_folder(run_dir: Path, settings: Dict[str, Any], overwrite: bool) -> None:
    manifest = run_dir / MANIFEST_FILE
    if overwrite:
        shutil.rmtree(run_dir / SHARDS_DIR, ignore_errors=True)
        manifest.unlink(missing_ok=True)
    (run_dir / SHARDS_DIR).mkdir(parents=True, exist_ok=True)
    if manifest.is_file():
        stored = json.loads(manifest.read_text(encoding="utf-8"))
        keys = settings_differences(stored, json.loads(json.dumps(settings)), _VOLATILE)
        if keys:
            details = describe_differences(
                stored, json.loads(json.dumps(settings)), keys
            )
            raise ValueError(
                f"{run_dir} holds a run with other settings ({details}). Resume "
                "it with the same settings, choose another folder, or pass "
                "`overwrite` to start afresh."
            )
    else:
        _write_manifest(run_dir, settings, None)
    for stale in (run_dir / SHARDS_DIR).glob("*.tmp"):
        stale.unlink(missing_ok=True)  # a shard a killed rank was writing


def _write_manifest(
    run_dir: Path, settings: Mapping[str, Any], summary: Optional[Mapping[str, Any]]
) -> None:
    content = dict(settings)
    if summary is not None:
        content["summary"] = dict(summary)
    write_text_atomic(run_dir / MANIFEST_FILE, json.dumps(content, indent=1) + "\n")


def _resources(
    ranks: Ranks, settings: RunSettings, model: Module, tokenizer: Any, run_dir: Path
) -> Dict[str, Any]:
    """Built by rank 0 into the run's cache, then loaded from it by the others
    (so that no two ranks build, or write, one file)."""
    cache = run_dir / CACHE_DIR

    def cached(name: str) -> Path:
        cache.mkdir(parents=True, exist_ok=True)
        return cache / name

    def build() -> Dict[str, Any]:
        return build_run_resources(settings, model, tokenizer, cache=cached)

    resources = build() if ranks.main else {}
    ranks.barrier()
    return resources if ranks.main else build()


def _my_shards(
    source: Source, claims: "_Claims", shard_size: int, total: int
) -> Iterator[tuple]:
    """(shard, its rows) for the shards this rank claims, in file order,
    streaming the input once and holding one shard at a time."""
    if not claims.missing:
        return
    # A shard is given out at its last row, before the next row is read: the
    # next shard is claimed only when this rank is free to explain it.
    rows: List[FileRow] = []
    for row in source.rows(claims):
        rows.append(row)
        shard = row.number // shard_size
        if row.number + 1 == min((shard + 1) * shard_size, total):
            yield shard, rows
            rows = []
        if row.number + 1 >= total:
            break


class _Claims:
    """``number in claims``: whether example ``number`` is this rank's to
    explain. The first row of a missing shard that a rank reaches makes it try
    to claim the shard: an empty file created exclusively (``O_EXCL``, atomic
    on local and NFS file systems) in this job's claims folder; whoever creates
    it explains the shard, the other ranks skip its rows unparsed."""

    def __init__(self, folder: Path, missing: set, shard_size: int, total: int):
        self.folder, self.missing = folder, missing
        self.shard_size, self.total = shard_size, total
        self.mine: set = set()
        self.theirs: set = set()

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, int) or number >= self.total:
            return False
        shard = number // self.shard_size
        if shard not in self.missing or shard in self.theirs:
            return False
        if shard not in self.mine:
            if not self._claim(shard):
                self.theirs.add(shard)
                return False
            self.mine.add(shard)
        return True

    def _claim(self, shard: int) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(self.folder / shard_name(shard), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True


def _shard_rows(shard: int, shard_size: int, total: int) -> int:
    return min(shard_size, total - shard * shard_size)


def _summary(
    run_dir: Path, states: List[Dict[str, Any]], total: int, seconds: float, world: int
) -> Dict[str, Any]:
    explained = sum(int(s["examples"]) for s in states)
    return {
        "examples": total,
        "shards": len(shard_files(run_dir)),
        "explained": explained,
        "failed": sum(int(s["failed"]) for s in states),
        "ranks": world,
        "seconds": round(seconds, 3),
        "examples_per_second": round(explained / seconds, 3) if seconds > 0 else None,
    }


def _pool_label(
    methods: List[str], texts: Optional[Sequence[str]], source: Source
) -> Optional[str]:
    if not any(set(METHODS[m].needs) & TEXT_RESOURCES for m in methods):
        return None
    if texts is not None:
        return f"{len(texts)} given texts"
    return source.reference_label()


def _classifier(model: Any, tokenizer: Any, name: Optional[str]) -> tuple:
    if isinstance(model, Module):
        if tokenizer is None:
            raise ValueError("`tokenizer` is required when `model` is a module.")
        return model.eval(), tokenizer, name or type(model).__name__, None
    if not Path(model).is_dir():
        raise FileNotFoundError(f"`model`: no model folder at {model}.")
    loaded, loaded_tokenizer = load_classifier(Path(model))
    return (
        loaded,
        tokenizer or loaded_tokenizer,
        name or Path(model).resolve().name,
        str(model),
    )


def _now(started: float) -> str:
    return datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds")
