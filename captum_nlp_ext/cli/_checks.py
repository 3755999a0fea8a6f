"""Checks of what a user typed on the command line, each naming the flag.

They run before anything slow (loading a model), so that a mistake costs a
second, and end in :class:`CommandError`, which ``captum-nlp`` prints as one
line with exit status 2.
"""

import argparse
import ast
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence


class CommandError(Exception):
    """A mistake in the command line: shown as one line, exit status 2."""


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an int >= 0."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}")
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}; got {value}")
    return value


def registered_methods() -> List[str]:
    from captum_nlp_ext.engine.methods import METHODS

    return sorted(METHODS)


def check_methods(names: Sequence[str]) -> List[str]:
    """Method names against the registry (``--methods`` / ``--method``)."""
    known = registered_methods()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CommandError(
            f"--methods: unknown method(s) {', '.join(map(repr, unknown))}; "
            f"registered: {', '.join(known)}."
        )
    if not names:
        raise CommandError("--methods: no method given.")
    return list(names)


def model_dir(
    model: Optional[str], models_dir: Optional[str], flag: str = "--model"
) -> Path:
    """``--model``: a folder, or a name under the models folder
    (``--models-dir``, ``CAPTUM_NLP_MODELS``, ``../shared/models``)."""
    from captum_nlp_ext.datasets import resolve_models_dir

    if model and Path(model).is_dir():
        return Path(model)
    if model and ("/" in model or model.startswith(".")):
        raise CommandError(f"{flag}: no model folder at {model}.")
    root = resolve_models_dir(models_dir)
    if not root.is_dir():
        source = "--models-dir" if models_dir else "the models folder"
        raise CommandError(
            f"{source}: no folder at {root}; pass --models-dir or set "
            "CAPTUM_NLP_MODELS."
        )
    folder = root / (model or "minilm-sst2")
    if not (folder / "config.json").is_file():
        available = sorted(
            p.name for p in root.iterdir() if (p / "config.json").is_file()
        )
        raise CommandError(
            f"{flag}: no model {folder.name!r} in {root} (models there: "
            f"{', '.join(available) or 'none'}); give a model folder or one of them."
        )
    return folder


def check_data_dir(data_dir: Optional[str]) -> Path:
    """``--data-dir`` (or ``CAPTUM_NLP_DATA``, ``../shared/data``) exists."""
    from captum_nlp_ext.datasets import resolve_data_dir

    folder = resolve_data_dir(data_dir)
    if not folder.is_dir():
        source = "--data-dir" if data_dir else "the data folder"
        raise CommandError(
            f"{source}: no folder at {folder}; pass --data-dir or set "
            "CAPTUM_NLP_DATA."
        )
    return folder


def check_texts(texts: Sequence[str]) -> List[str]:
    """``--text`` values: each must hold a word."""
    for number, text in enumerate(texts, 1):
        if not text.strip():
            raise CommandError(f"--text: text {number} is empty.")
    return list(texts)


def out_folder(out: str, flag: str = "--out") -> str:
    """A run folder to write: a folder or a path that does not exist yet."""
    if Path(out).exists() and not Path(out).is_dir():
        raise CommandError(
            f"{flag}: {out} is a file; give a run folder (new or an earlier run's)."
        )
    return out


def out_file(out: str, flag: str = "--out") -> str:
    """A file to write: not a folder."""
    if Path(out).is_dir():
        raise CommandError(f"{flag}: {out} is a folder; give a file name.")
    return out


def check_device(device: Optional[str], flag: str = "--device") -> Optional[str]:
    """``cuda`` only where torch sees a GPU."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise CommandError(
            f"{flag} cuda: torch sees no CUDA GPU here (torch "
            f"{torch.__version__}); leave {flag} out or pass {flag} cpu."
        )
    return device


def check_run_folders(folders: Sequence[str]) -> List[str]:
    """``report DIR``: each is a benchmark run folder."""
    for folder in folders:
        if not (Path(folder) / "run.json").is_file():
            what = "no folder" if not Path(folder).is_dir() else "no run.json in it"
            raise CommandError(
                f"DIR {folder!r} is not a benchmark run folder ({what}); make one "
                "with `captum-nlp benchmark --out DIR`."
            )
    return list(folders)


def methods_of(args: argparse.Namespace) -> List[str]:
    """``--methods`` and every ``--method``, in order, checked; the command's
    default when neither is given."""
    # An empty --methods is a mistake, not a request for the default.
    given = args.methods
    if given is None and not args.method:
        given = args.default_methods
    names = [m.strip() for m in (given or "").split(",") if m.strip()]
    return check_methods(names + [m for m in args.method or [] if m not in names])


def mlm_of(args: argparse.Namespace, methods: Sequence[str]) -> Optional[Path]:
    from captum_nlp_ext.engine.methods import METHODS

    if not any("mlm" in METHODS[m].needs for m in methods):
        return None
    if args.mlm:
        if not Path(args.mlm).is_dir():
            raise CommandError(f"--mlm: no model folder at {args.mlm}.")
        return Path(args.mlm)
    return model_dir("minilm-mlm", args.models_dir, flag="--mlm")


# JSON's spellings of the literals, which a shell user types as often as Python's.
_JSON_WORDS: Dict[str, Any] = {"true": True, "false": False, "null": None}


def method_options(assignments: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """``["marc.max_steps=100", "lig.n_steps=20"]`` -> ``{"marc": {"max_steps":
    100}, "lig": {"n_steps": 20}}``; values are read as Python literals (numbers,
    booleans, quoted strings, None) or their JSON spellings (``true``,
    ``false``, ``null``), else kept as text."""
    options: Dict[str, Dict[str, Any]] = {}
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        method, dot, name = key.partition(".")
        if not (equals and dot and method and name):
            raise CommandError(
                "--set expects METHOD.SETTING=VALUE (e.g. marc.max_steps=100); "
                f"got {assignment!r}"
            )
        if text.strip() in _JSON_WORDS:
            value = _JSON_WORDS[text.strip()]
        else:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = text
        options.setdefault(method.strip(), {})[name.strip()] = value
    return options


# Flags that are RunSettings' fields under the same name (the others are read
# with their own checks: the methods, --set, --mlm and the reference texts).
_SETTINGS_FLAGS = (
    "budget",
    "seed",
    "batch_size",
    "max_length",
    "internal_batch_size",
    "window",
    "window_overlap",
    "reference_pool",
)


def run_settings(args: argparse.Namespace, **given: Any) -> Any:
    """The command's :class:`~captum_nlp_ext.benchmark.RunSettings`,
    from its flags (those it has) and ``given`` (resolved values), checked
    once here."""
    from captum_nlp_ext.engine.settings import RunSettings

    methods = given.pop("methods", None) or methods_of(args)
    flags = vars(args)
    values = {k: flags[k] for k in _SETTINGS_FLAGS if flags.get(k) is not None}
    return RunSettings(
        methods=tuple(methods),
        method_options=method_options(args.set or []),
        mlm=mlm_of(args, methods),
        **{**values, **given},
    )
