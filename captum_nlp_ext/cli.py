"""Command line: ``captum-nlp explain``, ``benchmark`` and ``report`` (also
``python -m captum_nlp_ext``)."""

import argparse
import ast
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from captum_nlp_ext.datasets import load_sst2, resolve_models_dir


def _colour_word(word: str, score: float) -> str:
    # ANSI 256-colour background: green supports the prediction, red opposes.
    level = min(5, int(abs(score) * 5.999))
    if level == 0:
        return word
    code = 16 + (36 * level if score < 0 else 6 * level)
    return f"\x1b[48;5;{code}m\x1b[38;5;16m{word}\x1b[0m"


def _model_dir(model: Optional[str], models_dir: Optional[str]) -> Path:
    """``--model``: a folder, or a name under the models folder."""
    if model and Path(model).is_dir():
        return Path(model)
    return resolve_models_dir(models_dir) / (model or "minilm-sst2")


def _methods(args: argparse.Namespace) -> list:
    """``--methods`` and every ``--method``, in order; the command's default
    when neither is given."""
    given = args.methods if args.methods or args.method else args.default_methods
    names = [m.strip() for m in (given or "").split(",") if m.strip()]
    return names + [m for m in args.method or [] if m not in names]


def _mlm(args: argparse.Namespace, methods: Sequence[str]) -> Optional[Path]:
    if "im" not in methods:
        return None
    return Path(args.mlm) if args.mlm else _model_dir("minilm-mlm", args.models_dir)


def _explain(args: argparse.Namespace) -> int:
    from captum_nlp_ext.attr.visualization import save_html
    from captum_nlp_ext.benchmark.methods import build_resources, check_methods
    from captum_nlp_ext.explain import explain_texts, load_classifier

    model_dir = _model_dir(args.model, args.models_dir)
    methods = check_methods(_methods(args))
    if args.text:
        texts, labels = list(args.text), None
    else:
        examples = load_sst2(args.split, data_dir=args.data_dir, limit=args.n)
        texts = [e.text for e in examples]
        labels = [e.label for e in examples]
    model, tokenizer = load_classifier(model_dir)
    reference_texts = None
    if "lafa" in methods:
        pool = load_sst2("train", data_dir=args.data_dir, limit=args.reference_pool)
        reference_texts = [e.text for e in pool]
    resources = build_resources(
        methods,
        model,
        tokenizer,
        mlm=_mlm(args, methods),
        reference_texts=reference_texts,
    )
    records = explain_texts(
        model,
        tokenizer,
        texts,
        methods,
        labels,
        seed=args.seed,
        budget=args.budget,
        resources=resources,
    )
    colour = sys.stdout.isatty() and not args.no_colour
    for i, text in enumerate(texts):
        first = records[methods[0]][i]
        print(f"\n[{i}] {text}")
        print(
            f"    predicted {first.pred_class} (p={first.pred_prob:.3f}), "
            f"gold {first.true_class}"
        )
        for name in methods:
            r = records[name][i]
            shown = [
                _colour_word(w, float(s)) if colour else f"{w}({float(s):+.2f})"
                for w, s in zip(r.raw_input_ids, r.word_attributions.tolist())
            ]
            print(f"    {name:>6}: " + " ".join(shown))
    if args.out:
        path = save_html(
            records, args.out, title=f"Word attributions: {model_dir.name}"
        )
        print(f"\nwrote {path}")
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    import torch

    from captum_nlp_ext.benchmark.methods import check_methods
    from captum_nlp_ext.benchmark.runner import run_benchmark

    if args.threads:
        torch.set_num_threads(args.threads)
    methods = check_methods(_methods(args))
    metrics = (
        [m.strip() for m in args.metrics.split(",") if m.strip()]
        if args.metrics
        else None
    )
    out = run_benchmark(
        _model_dir(args.model, args.models_dir),
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
        mlm=_mlm(args, methods),
        reference_pool=args.reference_pool,
        method_options=_method_options(args.set or []),
        data_dir=args.data_dir,
        overwrite=args.overwrite,
        show_progress=not args.no_progress,
    )
    print(f"wrote {out}")
    return 0


def _method_options(assignments: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """``["marc.max_steps=100", "lig.n_steps=20"]`` -> ``{"marc": {"max_steps":
    100}, "lig": {"n_steps": 20}}``; values are read as Python literals (numbers,
    booleans, quoted strings), else kept as text."""
    options: Dict[str, Dict[str, Any]] = {}
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        method, dot, name = key.partition(".")
        if not (equals and dot and method and name):
            raise SystemExit(
                f"--set expects METHOD.SETTING=VALUE (e.g. marc.max_steps=100); "
                f"got {assignment!r}"
            )
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        options.setdefault(method.strip(), {})[name.strip()] = value
    return options


def _add_common(parser: argparse.ArgumentParser, default_methods: str) -> None:
    parser.add_argument(
        "--model",
        help="classifier folder, or a name under the models folder "
        "(default: minilm-sst2)",
    )
    parser.add_argument("--models-dir", help="shared models folder")
    parser.add_argument("--data-dir", help="shared data folder")
    parser.add_argument(
        "--methods",
        help=f"comma-separated registered methods (default: {default_methods})",
    )
    parser.add_argument(
        "--method", action="append", help="a method; repeatable (with --methods)"
    )
    parser.set_defaults(default_methods=default_methods)
    parser.add_argument(
        "--budget",
        type=int,
        default=128,
        help="model evaluations per example of perturbation methods (128)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--mlm", help="masked language model folder of `im` (default: minilm-mlm)"
    )
    parser.add_argument(
        "--reference-pool",
        type=int,
        default=1000,
        help="training examples in LAFA's reference index (1000)",
    )


def _report(args: argparse.Namespace) -> int:
    from captum_nlp_ext.benchmark.report import markdown_table, write_report

    print(f"wrote {write_report(args.dir, args.out, args.max_examples)}")
    if args.markdown:
        path = Path(args.markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown_table(args.dir), encoding="utf-8")
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="captum-nlp", description="Explain NLP classifiers with Captum."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    explain = commands.add_parser(
        "explain",
        help="explain texts (or SST-2 sentences) with several methods side by side",
    )
    _add_common(explain, "nlgp,lig")
    explain.add_argument("--text", action="append", help="a text; repeatable")
    explain.add_argument("--split", default="dev", help="SST-2 split (default dev)")
    explain.add_argument("--n", type=int, default=8, help="SST-2 sentences (8)")
    explain.add_argument("--out", help="write an HTML page here")
    explain.add_argument("--no-colour", action="store_true", help="plain output")
    explain.set_defaults(run=_explain)

    benchmark = commands.add_parser(
        "benchmark",
        help="methods x metrics x examples of a data set into a resumable run folder",
    )
    _add_common(benchmark, "nlgp,lig,random")
    benchmark.add_argument(
        "--dataset",
        required=True,
        choices=("sst2", "sst", "movies", "esnli", "mr", "imdb"),
    )
    benchmark.add_argument(
        "--split", help="split (default: dev; movies val, imdb valid, mr all)"
    )
    benchmark.add_argument(
        "--metrics", help="comma-separated (default: all the data set supports)"
    )
    benchmark.add_argument("--n", type=int, help="first N examples (default: all)")
    benchmark.add_argument("--out", required=True, help="run folder")
    benchmark.add_argument("--batch-size", type=int, default=16)
    benchmark.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="truncation length in tokens (default 128; whole documents with "
        "--window)",
    )
    benchmark.add_argument(
        "--window",
        type=int,
        help="classify whole documents through windows of this many tokens "
        "(ERASER movies), instead of truncating",
    )
    benchmark.add_argument(
        "--window-overlap", type=int, default=32, help="tokens windows share (32)"
    )
    benchmark.add_argument(
        "--set",
        action="append",
        metavar="METHOD.SETTING=VALUE",
        help="override a method's setting, e.g. marc.max_steps=100; repeatable "
        "(settings are recorded in run.json)",
    )
    benchmark.add_argument("--threads", type=int, help="torch threads")
    resume = benchmark.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume",
        action="store_true",
        default=True,
        help="resume a run in --out with the same settings (the default)",
    )
    resume.add_argument(
        "--overwrite", action="store_true", help="start afresh, deleting its results"
    )
    benchmark.add_argument("--no-progress", action="store_true", help="no progress bar")
    benchmark.set_defaults(run=_benchmark)
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
    report.add_argument("--markdown", help="also write the metric table here")
    report.add_argument(
        "--max-examples",
        type=int,
        default=20,
        help="examples shown with word scores (20)",
    )
    report.set_defaults(run=_report)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
