"""``captum-nlp explain``: texts (or SST-2 sentences) explained by several
methods side by side, in the terminal and as an HTML page."""

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from captum_nlp_ext.cli._checks import (
    check_data_dir,
    check_texts,
    model_dir,
    out_file,
    positive_int,
    run_settings,
)
from captum_nlp_ext.cli._common import add_common, add_output
from captum_nlp_ext.cli._output import explain_warnings, print_records, token_counts

_LOG = logging.getLogger("captum_nlp_ext")


def run(args: argparse.Namespace) -> int:
    from captum_nlp_ext.attr.visualization import save_html
    from captum_nlp_ext.datasets import load_sst2, user_cache_dir, user_cache_file
    from captum_nlp_ext.engine.methods import TEXT_RESOURCES
    from captum_nlp_ext.engine.settings import build_run_resources
    from captum_nlp_ext.explain import explain_texts
    from captum_nlp_ext.huggingface import load_classifier, split_words

    settings = run_settings(args)
    texts = check_texts(args.text) if args.text else None
    if args.out:
        out_file(args.out)
    folder = model_dir(args.model, args.models_dir)
    needs_pool = bool(settings.needs & TEXT_RESOURCES)
    if texts is None or needs_pool:
        check_data_dir(args.data_dir)
    _LOG.info("loading the model %s", folder.name)
    model, tokenizer = load_classifier(folder)
    settings = settings.for_model(model)
    labels = None
    if texts is None:
        examples = load_sst2(args.split, data_dir=args.data_dir, limit=args.n)
        texts = [e.text for e in examples]
        labels = [e.label for e in examples]
    else:
        # Words as the tokenizer splits them (punctuation apart).
        texts = [" ".join(split_words(tokenizer, t)) for t in texts]
    if needs_pool:
        built = [
            what
            for need, what in (
                ("reference_index", "LAFA's reference index"),
                ("diffmask", "DiffMask's probe"),
            )
            if need in settings.needs
        ]
        _LOG.info(
            "%s: over %d SST-2 training sentences (built once, then read from %s)",
            " and ".join(built),
            settings.reference_pool,
            user_cache_dir(),
        )
        pool = load_sst2("train", data_dir=args.data_dir, limit=settings.reference_pool)
        settings = replace(settings, reference_texts=tuple(e.text for e in pool))
    if settings.mlm is not None:
        _LOG.info("loading the masked language model %s", Path(settings.mlm).name)
    resources = build_run_resources(
        settings,
        model,
        tokenizer,
        cache=user_cache_file if needs_pool else None,
        show_progress=not args.quiet,
    )
    methods = settings.names
    _LOG.info("explaining %d text(s) with %s", len(texts), ", ".join(methods))
    records = explain_texts(
        model,
        tokenizer,
        texts,
        settings,
        labels=labels,
        resources=resources,
        show_progress=not args.quiet,
    )
    notices = explain_warnings(
        texts, methods, records, token_counts(tokenizer, texts), settings.max_length
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
        described = (
            f"Model {folder.name}; methods {', '.join(methods)}; budget "
            f"{settings.budget}; seed {settings.seed}; max length "
            f"{settings.max_length}; texts: {source}"
            + "".join(f"; --set {a}" for a in args.set or [])
        )
        path = save_html(
            records,
            args.out,
            title=f"Word attributions: {folder.name}",
            notes=[described] + [f"Warning: {w}" for w in notices],
        )
        print(f"\nwrote {path}")
    return 0


def add(commands: Any) -> None:
    explain = commands.add_parser(
        "explain",
        help="explain texts (or SST-2 sentences) with several methods side by side",
        description="Explain texts (--text) or the first --n SST-2 sentences with "
        "several methods side by side. Words of --text are split as the "
        "model's tokenizer pre-splits text (punctuation apart from words); SST-2 "
        "sentences are already split into words by spaces.",
    )
    add_common(explain, "nlgp,lig")
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
    add_output(explain)
    explain.set_defaults(run=run)
