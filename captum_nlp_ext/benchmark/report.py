"""The comparison report of a benchmark run folder: one self-contained HTML page
and a Markdown table.

The page holds the metric table (mean and 95% bootstrap interval of every
metric for every method, the best mean of each column marked, and the cost of
each method), the mean deletion / insertion curves and the metric means as
images, and the first examples with every method's word scores side by side
under the human rationale when the dataset has one. It loads nothing from the
network, runs no script, and escapes every text of the run.
"""

from pathlib import Path
from typing import List, Optional

from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext._utils.validation import check_int
from captum_nlp_ext.benchmark import _format as fmt
from captum_nlp_ext.benchmark._page import render_page
from captum_nlp_ext.benchmark._plots import bars_png, curves_png, matplotlib_available
from captum_nlp_ext.benchmark._read import read_runs, RunDirs
from captum_nlp_ext.benchmark._summary import summarize_run

__all__ = ["markdown_table", "write_report"]


def write_report(
    run_dir: RunDirs, out: Optional[PathLike] = None, max_examples: int = 20
) -> Path:
    """Write the HTML comparison report of a benchmark run folder.

    A partial run (an interrupted run, or methods with fewer examples than
    others) renders too: the page says how many examples each method has.

    Args:
        run_dir (str, Path or sequence of them): The run folder (``run.json``
                    and ``results.jsonl``, schema 1), or several folders that
                    explain the same examples (same model, data set, split, n,
                    seed, budget, length and windows) with different methods,
                    reported as one run.
        out (str or Path, optional): The HTML file to write (folders created).
                    Default: None (``report.html`` in the first run folder)
        max_examples (int): Examples shown with their word scores, the first
                    by example index; the metric table and figures always use
                    every example. Default: 20

    Returns:
        The path of the page.
    """
    check_int("max_examples", max_examples, 0)
    run = read_runs(run_dir)
    summary = summarize_run(run)
    path = Path(out) if out is not None else run.folder / "report.html"
    page = render_page(
        run,
        summary,
        curves_png(run),
        bars_png(summary),
        max_examples,
        plots_missing=not matplotlib_available(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(run_dir: RunDirs) -> str:
    """The metric and cost table of a run folder in Markdown, for READMEs.

    One row per method: examples, each metric's mean with its 95% bootstrap
    interval (``n=`` added where fewer examples define it than the run's
    complete count), the best mean of each column in bold, then seconds and
    model passes (forward rows) per example and the peak memory.

    Args:
        run_dir (str, Path or sequence of them): The run folder, or several
                    (as in :func:`write_report`).

    Returns:
        The table, ending with a newline.
    """
    summary = summarize_run(read_runs(run_dir))
    head = ["method", "examples"]
    head += [
        f"{m} {fmt.arrow(summary.higher_is_better[m])}".strip() for m in summary.metrics
    ]
    head += ["s / example", "model passes / example", "peak memory"]
    lines = [
        "| " + " | ".join(_cell(h) for h in head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in summary.rows:
        cells: List[str] = [row.method, str(row.examples)]
        for metric in summary.metrics:
            result = row.metrics[metric]
            if result.n == 0:
                cells.append(fmt.MISSING)
                continue
            mean = fmt.number(result.mean)
            if row.method in summary.best[metric]:
                mean = f"**{mean}**"
            cell = f"{mean} {fmt.interval(result)}"
            if result.n != summary.expected:
                cell += f" n={result.n}"
            cells.append(cell)
        cells += [
            fmt.seconds(row.costs["seconds"]),
            fmt.passes(row.costs["forward_rows"]),
            fmt.memory(row.peak_memory_bytes),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
