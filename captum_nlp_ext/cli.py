"""Command line: ``captum-nlp explain`` (also ``python -m captum_nlp_ext``)."""

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from captum_nlp_ext.datasets import load_sst2, resolve_models_dir


def _colour_word(word: str, score: float) -> str:
    # ANSI 256-colour background: green supports the prediction, red opposes.
    level = min(5, int(abs(score) * 5.999))
    if level == 0:
        return word
    code = 16 + (36 * level if score < 0 else 6 * level)
    return f"\x1b[48;5;{code}m\x1b[38;5;16m{word}\x1b[0m"


def _explain(args: argparse.Namespace) -> int:
    from captum_nlp_ext.attr.visualization import save_html
    from captum_nlp_ext.explain import explain_texts, load_classifier

    model_dir = (
        Path(args.model)
        if args.model
        else (resolve_models_dir(args.models_dir) / "minilm-sst2")
    )
    if args.text:
        texts, labels = list(args.text), None
    else:
        examples = load_sst2(args.split, data_dir=args.data_dir, limit=args.n)
        texts = [e.text for e in examples]
        labels = [e.label for e in examples]
    model, tokenizer = load_classifier(model_dir)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    records = explain_texts(model, tokenizer, texts, methods, labels, seed=args.seed)
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
    explain.add_argument("--model", help="classifier folder (default: minilm-sst2)")
    explain.add_argument("--models-dir", help="shared models folder")
    explain.add_argument("--data-dir", help="shared data folder")
    explain.add_argument("--text", action="append", help="a text; repeatable")
    explain.add_argument("--split", default="dev", help="SST-2 split (default dev)")
    explain.add_argument("--n", type=int, default=8, help="SST-2 sentences (8)")
    explain.add_argument(
        "--methods", default="nlgp,lig", help="comma-separated (nlgp,lig)"
    )
    explain.add_argument("--seed", type=int, default=0)
    explain.add_argument("--out", help="write an HTML page here")
    explain.add_argument("--no-colour", action="store_true", help="plain output")
    explain.set_defaults(run=_explain)
    report = commands.add_parser(
        "report",
        help="write the HTML comparison report (and a Markdown table) of a "
        "benchmark run folder",
    )
    report.add_argument("dir", help="benchmark run folder (run.json, results.jsonl)")
    report.add_argument("--out", help="HTML file (default DIR/report.html)")
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
