"""``captum-nlp report``: the HTML comparison report (and a Markdown table)
of benchmark run folders."""

import argparse
from pathlib import Path
from typing import Any

from captum_nlp_ext.cli._checks import check_run_folders, non_negative_int
from captum_nlp_ext.cli._common import add_output


def run(args: argparse.Namespace) -> int:
    from captum_nlp_ext.benchmark.report import markdown_table, write_report

    folders = check_run_folders(args.dir)
    print(f"wrote {write_report(folders, args.out, args.max_examples)}")
    if args.markdown:
        path = Path(args.markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown_table(folders), encoding="utf-8")
        print(f"wrote {path}")
    return 0


def add(commands: Any) -> None:
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
    add_output(report)
    report.set_defaults(run=run)
