"""Command line: ``captum-nlp explain``, ``benchmark`` and ``report`` (also
``python -m captum_nlp_ext``).

What the commands are doing goes to stderr (``--quiet`` silences it); results
go to stdout. A user's mistake ends with one line ``captum-nlp: error: ...``
and exit status 2 (``--debug`` shows the traceback instead).
"""

import argparse
import logging
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

from captum_nlp_ext._cli_attribute import (
    add_attribute,
    add_data_arguments,
    file_fields,
    FLAGS as _ATTRIBUTE_FLAGS,
)
from captum_nlp_ext._cli_checks import (
    check_data_dir,
    check_run_folders,
    check_texts,
    CommandError,
    method_options,
    methods_of,
    mlm_of,
    model_dir,
    non_negative_int,
    out_file,
    out_folder,
    positive_int,
    registered_methods,
)
from captum_nlp_ext._cli_output import explain_warnings, print_records, token_counts
from captum_nlp_ext._utils.checks import resolve_max_length
from captum_nlp_ext._utils.distributed import launch_rank, launch_world_size

_LOG = logging.getLogger("captum_nlp_ext")
# Library argument names -> the flags users type, for messages that reach them.
_FLAGS = {
    "n": "--n",
    "budget": "--budget",
    "batch_size": "--batch-size",
    "max_length": "--max-length",
    "window": "--window",
    "window_overlap": "--window-overlap",
    "method_options": "--set",
    "methods": "--methods",
    "metrics": "--metrics",
    "dataset": "--dataset",
    "split": "--split",
    "out_dir": "--out",
    "data_dir": "--data-dir",
    "reference_pool": "--reference-pool",
    "max_examples": "--max-examples",
    "seed": "--seed",
    **_ATTRIBUTE_FLAGS,
}


def _explain(args: argparse.Namespace) -> int:
    from captum_nlp_ext.attr.visualization import save_html
    from captum_nlp_ext.datasets import load_sst2, user_cache_dir, user_cache_file
    from captum_nlp_ext.engine.methods import build_resources, METHODS, TEXT_RESOURCES
    from captum_nlp_ext.explain import explain_texts
    from captum_nlp_ext.huggingface import load_classifier, split_words

    methods = methods_of(args)
    texts = check_texts(args.text) if args.text else None
    if args.out:
        out_file(args.out)
    folder = model_dir(args.model, args.models_dir)
    mlm = mlm_of(args, methods)
    needs_pool = any(TEXT_RESOURCES & set(METHODS[m].needs) for m in methods)
    if texts is None or needs_pool:
        check_data_dir(args.data_dir)
    _LOG.info("loading the model %s", folder.name)
    model, tokenizer = load_classifier(folder)
    args.max_length = resolve_max_length(args.max_length, model)
    labels = None
    if texts is None:
        examples = load_sst2(args.split, data_dir=args.data_dir, limit=args.n)
        texts = [e.text for e in examples]
        labels = [e.label for e in examples]
    else:
        # Words as the tokenizer splits them (punctuation apart).
        texts = [" ".join(split_words(tokenizer, t)) for t in texts]
    reference_texts = None
    if needs_pool:
        built = [
            what
            for need, what in (
                ("reference_index", "LAFA's reference index"),
                ("diffmask", "DiffMask's probe"),
            )
            if any(need in METHODS[m].needs for m in methods)
        ]
        _LOG.info(
            "%s: over %d SST-2 training sentences (built once, then read from %s)",
            " and ".join(built),
            args.reference_pool,
            user_cache_dir(),
        )
        pool = load_sst2("train", data_dir=args.data_dir, limit=args.reference_pool)
        reference_texts = [e.text for e in pool]
    if mlm is not None:
        _LOG.info("loading the masked language model %s", mlm.name)
    resources = build_resources(
        methods,
        model,
        tokenizer,
        mlm=mlm,
        reference_texts=reference_texts,
        cache=user_cache_file if needs_pool else None,
        show_progress=not args.quiet,
        method_options=method_options(args.set or []),
    )
    _LOG.info("explaining %d text(s) with %s", len(texts), ", ".join(methods))
    records = explain_texts(
        model,
        tokenizer,
        texts,
        methods,
        labels,
        seed=args.seed,
        max_length=args.max_length,
        budget=args.budget,
        resources=resources,
        method_options=method_options(args.set or []),
        show_progress=not args.quiet,
    )
    notices = explain_warnings(
        texts, methods, records, token_counts(tokenizer, texts), args.max_length
    )
    print_records(
        texts,
        methods,
        records,
        notices,
        colour=sys.stdout.isatty() and not args.no_colour,
    )
    if args.out:
        source = "--text" if args.text else f"SST-2 {args.split}, first {len(texts)}"
        settings = (
            f"Model {folder.name}; methods {', '.join(methods)}; budget "
            f"{args.budget}; seed {args.seed}; max length {args.max_length}; "
            f"texts: {source}" + "".join(f"; --set {a}" for a in args.set or [])
        )
        path = save_html(
            records,
            args.out,
            title=f"Word attributions: {folder.name}",
            notes=[settings] + [f"Warning: {w}" for w in notices],
        )
        print(f"\nwrote {path}")
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    import torch

    from captum_nlp_ext.benchmark.runner import PLAN_FILE, run_benchmark

    if args.threads:
        torch.set_num_threads(args.threads)
    methods = methods_of(args)
    out_folder(args.out)
    folder = model_dir(args.model, args.models_dir)
    fields = file_fields(args)
    if fields is None:
        check_data_dir(args.data_dir)
    metrics = (
        [m.strip() for m in args.metrics.split(",") if m.strip()]
        if args.metrics
        else None
    )
    out = run_benchmark(
        folder,
        args.dataset,
        args.out,
        split=args.split,
        methods=methods,
        metrics=metrics,
        n=args.n,
        budget=args.budget,
        batch_size=args.batch_size,
        seed=args.seed,
        max_length=args.max_length,
        window=args.window,
        window_overlap=args.window_overlap,
        mlm=mlm_of(args, methods),
        reference_pool=args.reference_pool,
        method_options=method_options(args.set or []),
        data_dir=args.data_dir,
        fields=fields,
        skip_bad_rows=args.skip_bad_rows,
        overwrite=args.overwrite,
        show_progress=not (args.no_progress or args.quiet),
        jobs=args.jobs,
        dry_run=args.dry_run,
    )
    if launch_rank() > 0:
        return 0
    if args.dry_run:
        print((out / PLAN_FILE).read_text(encoding="utf-8"), end="")
        return 0
    print(f"wrote {out}")
    if launch_world_size() > 1:
        # A job on many machines ends with its page (rank 0, all ranks done).
        from captum_nlp_ext.benchmark.report import write_report

        print(f"wrote {write_report([str(out)], None, 20)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from captum_nlp_ext.benchmark.report import markdown_table, write_report

    folders = check_run_folders(args.dir)
    print(f"wrote {write_report(folders, args.out, args.max_examples)}")
    if args.markdown:
        path = Path(args.markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown_table(folders), encoding="utf-8")
        print(f"wrote {path}")
    return 0


def _add_common(parser: argparse.ArgumentParser, default_methods: str) -> None:
    parser.add_argument(
        "--model",
        help="classifier folder, or a name under the models folder "
        "(default: minilm-sst2)",
    )
    parser.add_argument(
        "--models-dir",
        help="shared models folder (default: $CAPTUM_NLP_MODELS or ../shared/models)",
    )
    parser.add_argument(
        "--data-dir",
        help="shared data folder (default: $CAPTUM_NLP_DATA or ../shared/data)",
    )
    parser.add_argument(
        "--methods",
        help=f"comma-separated methods, from: {', '.join(registered_methods())} "
        f"(default: {default_methods})",
    )
    parser.add_argument(
        "--method",
        action="append",
        help="one more method; repeatable, added to --methods (default: none)",
    )
    parser.set_defaults(default_methods=default_methods)
    parser.add_argument(
        "--budget",
        type=positive_int,
        default=128,
        help="model evaluations per example of perturbation methods (default: 128)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of the sampling methods (default: 0)",
    )
    parser.add_argument(
        "--mlm", help="masked language model folder of `im` (default: minilm-mlm)"
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="METHOD.SETTING=VALUE",
        help="override a method's setting, e.g. marc.max_steps=100 or "
        "nlgp.samples_per_unit=8; repeatable (recorded in a run's settings; "
        "default: none)",
    )
    parser.add_argument(
        "--reference-pool",
        type=positive_int,
        default=1000,
        help="training examples in LAFA's reference index and DiffMask's probe "
        "(default: 1000)",
    )


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet", action="store_true", help="no progress on stderr (default: off)"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (default: off)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="captum-nlp", description="Explain NLP classifiers with Captum."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    explain = commands.add_parser(
        "explain",
        help="explain texts (or SST-2 sentences) with several methods side by side",
        description="Explain texts (--text) or the first --n SST-2 sentences with "
        "several methods side by side. Words of --text are split as the "
        "model's tokenizer pre-splits text (punctuation apart from words); SST-2 "
        "sentences are already split into words by spaces.",
    )
    _add_common(explain, "nlgp,lig")
    explain.add_argument(
        "--text", action="append", help="a text to explain; repeatable (default: none)"
    )
    explain.add_argument(
        "--split", default="dev", help="SST-2 split without --text (default: dev)"
    )
    explain.add_argument(
        "--n",
        type=positive_int,
        default=8,
        help="SST-2 sentences without --text (default: 8)",
    )
    explain.add_argument(
        "--max-length",
        type=positive_int,
        default=None,
        help="tokens the model reads; longer texts are cut (default: 128, or the "
        "model's limit if lower)",
    )
    explain.add_argument("--out", help="write an HTML page here (default: none)")
    explain.add_argument(
        "--no-colour", action="store_true", help="plain output (default: off)"
    )
    _add_output(explain)
    explain.set_defaults(run=_explain)
    _add_benchmark(commands)
    add_attribute(commands, _add_common, _add_output)
    _add_report(commands)
    return parser


def _add_benchmark(commands: Any) -> None:
    benchmark = commands.add_parser(
        "benchmark",
        help="methods x metrics x examples of a data set into a resumable run folder",
    )
    _add_common(benchmark, "nlgp,lig,random")
    add_data_arguments(benchmark)
    benchmark.add_argument(
        "--split", help="split (default: dev; movies val, imdb valid, mr all)"
    )
    benchmark.add_argument(
        "--metrics", help="comma-separated (default: all the data set supports)"
    )
    benchmark.add_argument(
        "--n",
        "--examples",
        dest="n",
        type=positive_int,
        help="first N examples; under torchrun write --examples, which torchrun "
        "does not mistake for one of its own flags (default: all)",
    )
    benchmark.add_argument("--out", required=True, help="run folder")
    benchmark.add_argument(
        "--batch-size",
        type=positive_int,
        default=16,
        help="examples per batch (default: 16)",
    )
    benchmark.add_argument(
        "--max-length",
        type=positive_int,
        default=None,
        help="truncation length in tokens (default: 128; whole documents with "
        "--window)",
    )
    benchmark.add_argument(
        "--window",
        type=positive_int,
        help="classify whole documents through windows of this many tokens "
        "(ERASER movies), instead of truncating (default: off)",
    )
    benchmark.add_argument(
        "--window-overlap",
        type=non_negative_int,
        default=32,
        help="tokens windows share (default: 32)",
    )
    benchmark.add_argument(
        "--threads",
        type=positive_int,
        help="torch threads of each process (default: torch's)",
    )
    benchmark.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="worker processes sharing the batches; this one writes the run "
        "folder; results are the same as with one (default: 1)",
    )
    benchmark.add_argument(
        "--dry-run",
        action="store_true",
        help="do not run: calibrate on 4 examples spread over the run's lengths "
        "and print each method's model "
        "passes and estimated time (also in plan.txt; default: off)",
    )
    resume = benchmark.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume",
        action="store_true",
        default=True,
        help="resume a run in --out with the same settings (the default)",
    )
    resume.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh, deleting its results and caches (default: off)",
    )
    benchmark.add_argument(
        "--no-progress", action="store_true", help="no progress bar (default: off)"
    )
    _add_output(benchmark)
    benchmark.set_defaults(run=_benchmark)


def _add_report(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="write the HTML comparison report (and a Markdown table) of a "
        "benchmark run folder",
    )
    report.add_argument(
        "dir",
        nargs="+",
        help="benchmark run folder (run.json, results.jsonl); several folders "
        "that explain the same examples with different methods make one report",
    )
    report.add_argument("--out", help="HTML file (default: DIR/report.html)")
    report.add_argument(
        "--markdown", help="also write the metric table here (default: none)"
    )
    report.add_argument(
        "--max-examples",
        type=non_negative_int,
        default=20,
        help="examples shown with word scores (default: 20)",
    )
    _add_output(report)
    report.set_defaults(run=_report)


def _flags(text: str) -> str:
    """Library argument names (```max_length```) turned into the flags typed."""

    def flag(match: "re.Match[str]") -> str:
        return _FLAGS.get(match.group(1), match.group(0))

    return re.sub(r"`([a-z_]+)`", flag, text)


def _message(error: BaseException) -> str:
    """One line, naming flags."""
    return _flags(" ".join(str(error).split()) or type(error).__name__)


def _flag_of(error: BaseException) -> str:
    """The flag an error of the library is about, when its type tells."""
    from captum_nlp_ext.huggingface import NotAClassifierError

    return "--model: " if isinstance(error, NotAClassifierError) else ""


class _FlagFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _flags(super().format(record))


class _BarSafeHandler(logging.StreamHandler):
    """Writes each message on a line of its own, around any progress bar
    (tqdm redraws the bar below it)."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # never lose a message to the bar
            self.handleError(record)


def _show_warning(
    message: Any,
    category: Any,
    filename: str,
    lineno: int,
    file: Any = None,
    line: Optional[str] = None,
) -> None:
    # Python's warnings (a library's UserWarning) as one line in the
    # command's words, not a path, a line number and a line of source.
    _LOG.warning("warning: %s", message)


def _configure_logging(quiet: bool) -> logging.Handler:
    handler = _BarSafeHandler(sys.stderr)
    handler.setFormatter(_FlagFormatter("captum-nlp: %(message)s"))
    _LOG.addHandler(handler)
    _LOG.setLevel(logging.WARNING if quiet else logging.INFO)
    return handler


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    handler = _configure_logging(args.quiet)
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        if launch_rank() > 0:
            # Under torchrun only rank 0 tells what the job is doing.
            _LOG.setLevel(logging.WARNING)
        return args.run(args)
    except KeyboardInterrupt:
        print("captum-nlp: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, FileNotFoundError) as error:
        if args.debug:
            raise
        print(f"captum-nlp: error: {_flag_of(error)}{_message(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # a bug, not a user's mistake: say how to see it
        if args.debug:
            raise
        print(
            f"captum-nlp: error: {type(error).__name__}: {_message(error)} "
            "(run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        warnings.showwarning = shown
        _LOG.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
