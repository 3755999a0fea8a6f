"""The typed settings of a run, shared by every entry point.

:class:`RunSettings` says how each example is explained (methods, budget,
seed, lengths, batches, the methods' resources) and :class:`DataSource` which
examples. The command line builds them from its flags,
:func:`~captum_nlp_ext.explain.explain_texts`,
:func:`~captum_nlp_ext.benchmark.runner.run_benchmark` and
:func:`~captum_nlp_ext.corpus.attribute_corpus` take them, and the worker
processes of a run receive them: each value is checked once, when the object is
made, and means the same thing everywhere (CONTRIBUTING.md's conventions).
"""

import dataclasses
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from torch.nn import Module

from captum_nlp_ext._utils.batching import DEFAULT_INTERNAL_BATCH_SIZE
from captum_nlp_ext._utils.checks import resolve_max_length
from captum_nlp_ext._utils.deprecation import REMOVED_IN
from captum_nlp_ext._utils.messages import warn_caller
from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext._utils.validation import check_int
from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.datasets.files import FIELDS
from captum_nlp_ext.datasets.registry import DATASETS
from captum_nlp_ext.engine._registry import check_method_options, check_methods, METHODS
from captum_nlp_ext.engine.resources import build_resources

__all__ = ["DataSource", "RunSettings"]


@dataclass(frozen=True)
class RunSettings:
    """How a run explains each example.

    Every field is checked when the object is made (a bad value raises a
    ``ValueError`` or ``TypeError`` naming it); the object is immutable, so
    what was checked is what runs.

    Attributes:
        methods (tuple of str, optional): Registered method names
                    (:data:`~captum_nlp_ext.engine.methods.METHODS`).
                    Default: None (the entry point's default: ``("nlgp",
                    "lig")`` to explain texts, ``("nlgp", "lig", "random")``
                    for a benchmark, ``("nlgp",)`` for a corpus)
        budget (int): Model evaluations per example of the perturbation
                    methods (see each method's ``budget_rule``). Default: 128
        seed (int): The run's seed; example ``i`` draws from
                    ``example_seed(seed, i)``. Default: 0
        batch_size (int): Examples per batch. Default: 16
        max_length (int, optional): Truncation length in tokens. Default: None
                    (128, fewer for a model with fewer positions; whole
                    documents with ``window``)
        internal_batch_size (int): Rows per model pass inside methods and
                    metrics. Default: 64
        method_options (Mapping, optional): Per method, settings overriding
                    its defaults, e.g. ``{"marc": {"max_steps": 100}}``; each
                    must name a method of the run. Default: None
        window (int, optional): Classify whole documents through overlapping
                    windows of this many tokens
                    (:class:`~captum_nlp_ext.huggingface.WindowedClassifier`);
                    methods that need the input within the model's length are
                    refused. Default: None (truncate)
        window_overlap (int): Least tokens consecutive windows share.
                    Default: 32
        mlm (Module or path, optional): The masked language model of ``im``.
                    Default: None
        reference_pool (int): Training examples in LAFA's reference index and
                    DiffMask's probe texts (the first of the data set's
                    training split). Default: 1000
        reference_texts (sequence of str, optional): Those texts themselves
                    instead (e.g. for a file). Default: None
    """

    methods: Optional[Tuple[str, ...]] = None
    budget: int = 128
    seed: int = 0
    batch_size: int = 16
    max_length: Optional[int] = None
    internal_batch_size: int = DEFAULT_INTERNAL_BATCH_SIZE
    method_options: Optional[Mapping[str, Mapping[str, Any]]] = None
    window: Optional[int] = None
    window_overlap: int = 32
    mlm: Union[None, Module, PathLike] = None
    reference_pool: int = 1000
    reference_texts: Optional[Tuple[str, ...]] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("budget", "batch_size", "internal_batch_size", "reference_pool"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        if self.max_length is not None:
            check_int("max_length", self.max_length, 2)
        if self.window is not None:
            check_int("window", self.window, 2)
        check_int("window_overlap", self.window_overlap, 0)
        if self.mlm is not None and not isinstance(
            self.mlm, (Module, str, os.PathLike)
        ):
            raise TypeError(
                "`mlm` must be a masked language model or its folder; got "
                f"{type(self.mlm).__name__}."
            )
        if self.reference_texts is not None:
            texts = self.reference_texts
            if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
                raise TypeError("`reference_texts` must be a sequence of str.")
            object.__setattr__(self, "reference_texts", tuple(texts))
        if self.methods is None:
            if self.method_options:
                raise ValueError("`method_options` needs `methods` named.")
            return
        if isinstance(self.methods, str):
            raise TypeError(
                "`methods` must be a sequence of method names, e.g. ('nlgp',); "
                f"got the string {self.methods!r}."
            )
        methods = tuple(check_methods(self.methods))
        object.__setattr__(self, "methods", methods)
        for name in methods:
            if self.budget < METHODS[name].min_budget:
                raise ValueError(
                    f"`budget` must be >= {METHODS[name].min_budget} for method "
                    f"{name!r}; got {self.budget}."
                )
        options = check_method_options(methods, self.method_options)
        object.__setattr__(self, "method_options", options)
        if self.window is not None:
            refused = [m for m in methods if not METHODS[m].windows]
            if refused:
                raise ValueError(
                    f"methods {refused} need inputs within the model's length and "
                    f"cannot run through windows (window={self.window}); leave "
                    "them out, or truncate instead of `window`."
                )

    @classmethod
    def given(
        cls, settings: Optional["RunSettings"], methods: Sequence[str]
    ) -> "RunSettings":
        """An entry point's ``settings`` argument, checked: a RunSettings
        (None: the defaults), with ``methods`` where it names none."""
        if settings is None:
            settings = cls()
        if not isinstance(settings, RunSettings):
            raise TypeError(
                f"`settings` must be a RunSettings; got {type(settings).__name__}."
            )
        return settings.with_default_methods(methods)

    def with_default_methods(self, methods: Sequence[str]) -> "RunSettings":
        """These settings, with ``methods`` where they name none."""
        if self.methods is not None:
            return self
        return dataclasses.replace(self, methods=tuple(methods))

    def for_model(self, model: Module, hint: str = "") -> "RunSettings":
        """These settings for ``model``: every method can explain it, and
        ``max_length`` resolved (its default, and at most the model's
        positions; ``hint`` ends the error). Whole documents through windows
        keep ``max_length`` as given."""
        check_methods(self.names, model)
        if self.window is not None:
            return self
        resolved = resolve_max_length(self.max_length, model, hint)
        return dataclasses.replace(self, max_length=resolved)

    @property
    def names(self) -> Tuple[str, ...]:
        """The methods (the settings must name them)."""
        if self.methods is None:
            raise ValueError("`methods`: none named.")
        return self.methods

    def options(self, name: str) -> Dict[str, Any]:
        """The settings overrides of method ``name`` (a fresh dict)."""
        return dict((self.method_options or {}).get(name, {}))

    def context(self, name: str, resources: Mapping[str, Any]) -> Dict[str, Any]:
        """What :class:`~captum_nlp_ext.engine.methods.MethodContext` takes
        from the run for method ``name``, beside the batch."""
        return dict(
            seed=self.seed,
            budget=self.budget,
            resources=resources,
            internal_batch_size=self.internal_batch_size,
            options=self.options(name),
        )

    @property
    def needs(self) -> frozenset:
        """The resources the methods need."""
        return frozenset(need for m in self.names for need in METHODS[m].needs)


@dataclass(frozen=True)
class DataSource:
    """Which examples a run explains.

    Attributes:
        dataset (str, path or sequence of TextExample): A named data set
                    (``"sst2"``, ``"imdb"``, ...: :data:`DATASETS`), a
                    ``.jsonl``, ``.csv`` or ``.tsv`` file or a ``datasets``
                    folder (:class:`~captum_nlp_ext.datasets.files.DatasetFile`),
                    or the examples themselves.
        split (str, optional): A named data set's split, or a ``datasets``
                    folder's. Default: None (the data set's evaluation split)
        n (int, optional): Explain the first ``n`` examples. Default: None (all)
        fields (Mapping, optional): A file's fields (``text_field``,
                    ``label_field``, ``pair_field``, ``rationale_field``,
                    ``id_field``). Default: None (the text in ``"text"``)
        skip_bad_rows (bool): Leave a file's bad rows out (recorded) instead
                    of stopping at the first. Default: False
        data_dir (path, optional): The shared data folder. Default: None
                    (``CAPTUM_NLP_DATA`` or ``../shared/data``)
    """

    dataset: Union[str, PathLike, Sequence[TextExample]]
    split: Optional[str] = None
    n: Optional[int] = None
    fields: Optional[Mapping[str, Optional[str]]] = None
    skip_bad_rows: bool = False
    data_dir: Optional[PathLike] = None

    def __post_init__(self) -> None:
        dataset = self.dataset
        if not isinstance(dataset, (str, os.PathLike)):
            if isinstance(dataset, bytes) or not isinstance(dataset, Sequence):
                raise TypeError(
                    "`dataset` must be a data set name, a file or folder, or a "
                    f"sequence of TextExample; got {type(dataset).__name__}."
                )
            if not all(isinstance(e, TextExample) for e in dataset):
                raise TypeError("`dataset`: every example must be a TextExample.")
        if self.split is not None and not isinstance(self.split, str):
            raise TypeError(f"`split` must be a str; got {type(self.split).__name__}.")
        if self.n is not None:
            check_int("n", self.n, 1)
        if not isinstance(self.skip_bad_rows, bool):
            raise TypeError("`skip_bad_rows` must be a bool.")
        if self.fields is not None:
            unknown = sorted(set(self.fields) - set(FIELDS))
            if unknown:
                raise ValueError(
                    f"`fields` has unknown names {unknown}; known: {sorted(FIELDS)}."
                )
            if isinstance(dataset, str) and dataset in DATASETS and self.fields:
                raise ValueError(
                    f"`fields` are for files; {dataset!r} is a named data set."
                )

    @classmethod
    def of(
        cls, dataset: Union["DataSource", str, PathLike, Sequence[TextExample]]
    ) -> "DataSource":
        """``dataset`` as a source (a name, path or examples: all of it)."""
        return dataset if isinstance(dataset, DataSource) else cls(dataset)


def build_run_resources(
    settings: RunSettings,
    model: Module,
    tokenizer: Any,
    cache: Optional[Callable[[str], Path]] = None,
    show_progress: bool = False,
) -> Dict[str, Any]:
    """The resources the run's methods need (:func:`build_resources` with the
    run's ``mlm``, ``reference_texts`` and ``method_options``)."""
    return build_resources(
        settings.names,
        model,
        tokenizer,
        mlm=settings.mlm,
        reference_texts=settings.reference_texts,
        cache=cache,
        show_progress=show_progress,
        method_options={m: settings.options(m) for m in settings.names},
    )


# The entry points' 0.2 signatures (run settings as keywords) keep working for
# one release, with a FutureWarning that shows the new call.
F = TypeVar("F", bound=Callable[..., Any])
_RUN_FIELDS = frozenset(f.name for f in dataclasses.fields(RunSettings))
_DATA_FIELDS = frozenset(f.name for f in dataclasses.fields(DataSource)) - {"dataset"}


def _method_names(value: Any) -> bool:
    """Whether ``value`` is a list or tuple of method names (the 0.2 signature
    of ``explain_texts``, whose fourth parameter was ``methods``)."""
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _take(kwargs: Dict[str, Any], names: frozenset) -> Dict[str, Any]:
    return {name: kwargs.pop(name) for name in list(kwargs) if name in names}


def _warn(function: str, moved: Dict[str, Any], into: str) -> None:
    given = ", ".join(f"{k}=..." for k in moved)
    warn_caller(
        f"{function}: passing {', '.join(sorted(moved))} as keywords is deprecated "
        f"and will be removed in {REMOVED_IN}; pass {into}({given}).",
        FutureWarning,
    )


def run_keywords(data: bool) -> Callable[[F], F]:
    """Accept :class:`RunSettings`' fields (and, with ``data``,
    :class:`DataSource`'s) as keywords of an entry point whose fourth
    parameter is ``settings`` (and, with ``data``, second is ``dataset``)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            run = _take(kwargs, _RUN_FIELDS)
            if len(args) > 3 and _method_names(args[3]):
                # The 0.2 signature of explain_texts: methods fourth.
                if len(args) > 4:
                    raise TypeError(
                        f"{func.__name__}: pass what follows `settings` by keyword."
                    )
                run["methods"], args = args[3], args[:3]
            selection = _take(kwargs, _DATA_FIELDS) if data else {}
            if not (run or selection):
                return func(*args, **kwargs)
            args_list = list(args)
            if run:
                if len(args_list) > 3 or "settings" in kwargs:
                    raise TypeError(
                        f"{func.__name__}: pass `settings` or its fields as "
                        f"keywords ({', '.join(sorted(run))}), not both."
                    )
                _warn(func.__name__, run, "settings=RunSettings")
                kwargs["settings"] = RunSettings(**run)
            if selection:
                dataset = args_list[1] if len(args_list) > 1 else kwargs["dataset"]
                if isinstance(dataset, DataSource):
                    raise TypeError(
                        f"{func.__name__}: pass a DataSource or its fields as "
                        f"keywords ({', '.join(sorted(selection))}), not both."
                    )
                _warn(func.__name__, selection, "DataSource")
                source = DataSource(dataset, **selection)
                if len(args_list) > 1:
                    args_list[1] = source
                else:
                    kwargs["dataset"] = source
            return func(*args_list, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
