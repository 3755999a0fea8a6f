"""``captum-nlp benchmark``: methods x metrics x examples of a data set into
a resumable run folder (see :mod:`captum_nlp_ext.benchmark`)."""

import argparse
from typing import Any

from captum_nlp_ext._utils.distributed import launch_rank, launch_world_size
from captum_nlp_ext.cli._checks import (
    check_data_dir,
    model_dir,
    non_negative_int,
    out_folder,
    positive_int,
    run_settings,
)
from captum_nlp_ext.cli._common import (
    add_common,
    add_data_arguments,
    add_output,
    add_run_flags,
    data_source,
    set_threads,
)


def run(args: argparse.Namespace) -> int:
    from captum_nlp_ext.benchmark.runner import PLAN_FILE, run_benchmark

    set_threads(args)
    settings = run_settings(args)
    out_folder(args.out)
    folder = model_dir(args.model, args.models_dir)
    source = data_source(args)
    if source.fields is None:
        check_data_dir(args.data_dir)
    metrics = (
        [m.strip() for m in args.metrics.split(",") if m.strip()]
        if args.metrics
        else None
    )
    out = run_benchmark(
        folder,
        source,
        args.out,
        settings,
        metrics=metrics,
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


def add(commands: Any) -> None:
    benchmark = commands.add_parser(
        "benchmark",
        help="methods x metrics x examples of a data set into a resumable run folder",
    )
    add_common(benchmark, "nlgp,lig,random")
    add_data_arguments(benchmark)
    add_run_flags(
        benchmark,
        "truncation length in tokens (default: 128; whole documents with --window)",
    )
    benchmark.add_argument(
        "--split", help="split (default: dev; movies val, imdb valid, mr all)"
    )
    benchmark.add_argument(
        "--metrics", help="comma-separated (default: all the data set supports)"
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
    add_output(benchmark)
    benchmark.set_defaults(run=run)
