"""What the commands share: their common flags, the data flags of
``benchmark`` and ``attribute``, and the flag that each library argument is
typed as (for messages that reach the user)."""

import argparse
from pathlib import Path
from typing import Any, Dict, Optional

from captum_nlp_ext.cli._checks import (
    CommandError,
    non_negative_int,
    positive_int,
    registered_methods,
)
from captum_nlp_ext.datasets.registry import DATASETS

# Library argument names -> the flags users type, for messages that reach them.
FLAGS = {
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
    "text_field": "--text-field",
    "label_field": "--label-field",
    "pair_field": "--pair-field",
    "rationale_field": "--rationale-field",
    "id_field": "--id-field",
    "skip_bad_rows": "--skip-bad-rows",
    "shard_size": "--shard-size",
    "score_dtype": "--dtype",
    "reference_texts": "--reference-file",
    "device": "--device",
}


def add_common(parser: argparse.ArgumentParser, default_methods: str) -> None:
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


def add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet", action="store_true", help="no progress on stderr (default: off)"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (default: off)",
    )


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dataset`` (a name or a file) and the fields of a file; shared by
    ``attribute`` and ``benchmark``."""
    parser.add_argument(
        "--dataset",
        required=True,
        help=f"a data set ({', '.join(DATASETS)}), or a .jsonl/.csv/.tsv file or "
        "a datasets folder (save_to_disk) of your own",
    )
    parser.add_argument(
        "--text-field", help="a file's text field (default: text)", default=None
    )
    parser.add_argument(
        "--label-field", help="a file's gold label field (default: none)"
    )
    parser.add_argument(
        "--pair-field", help="a file's field of a pair's second text (default: none)"
    )
    parser.add_argument(
        "--rationale-field",
        help="a file's rationale field: 0/1 per whitespace word (default: none)",
    )
    parser.add_argument(
        "--id-field", help="a file's id field (default: the row number)"
    )
    parser.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="record a bad row of a file as failed instead of stopping (default: off)",
    )


def file_fields(args: argparse.Namespace) -> Optional[Dict[str, Optional[str]]]:
    """The file's fields the user named (None for a named data set)."""
    fields = {
        "text_field": args.text_field,
        "label_field": args.label_field,
        "pair_field": args.pair_field,
        "rationale_field": args.rationale_field,
        "id_field": args.id_field,
    }
    given = {k: v for k, v in fields.items() if v is not None}
    if args.dataset in DATASETS:
        if given or args.skip_bad_rows:
            flags = [FLAGS[k] for k in given] + (
                ["--skip-bad-rows"] if args.skip_bad_rows else []
            )
            raise CommandError(
                f"{', '.join(flags)}: for a file; --dataset {args.dataset} is a "
                "named data set."
            )
        return None
    path = Path(args.dataset)
    if not path.exists():
        raise CommandError(
            f"--dataset: {args.dataset!r} is neither a data set "
            f"({', '.join(DATASETS)}) nor a file or folder."
        )
    return given


def data_source(args: argparse.Namespace) -> Any:
    """The command's :class:`~captum_nlp_ext.benchmark.DataSource`:
    ``--dataset``, ``--split``, ``--n`` and a file's fields."""
    from captum_nlp_ext.engine.settings import DataSource

    return DataSource(
        args.dataset,
        split=args.split,
        n=args.n,
        fields=file_fields(args),
        skip_bad_rows=args.skip_bad_rows,
        data_dir=args.data_dir,
    )


def add_run_flags(parser: argparse.ArgumentParser, max_length_help: str) -> None:
    """The flags of a run into a folder (``benchmark``, ``attribute``): the
    folder, the first N examples, batches, lengths, threads and progress."""
    parser.add_argument("--out", required=True, help="run folder")
    parser.add_argument(
        "--n",
        "--examples",
        dest="n",
        type=positive_int,
        help="the first N examples; under torchrun write --examples, which "
        "torchrun does not mistake for one of its own flags (default: all)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=16,
        help="examples per batch (default: 16)",
    )
    parser.add_argument(
        "--max-length", type=positive_int, default=None, help=max_length_help
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        help="torch threads of each process (default: torch's)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (default: off)"
    )


def set_threads(args: argparse.Namespace) -> None:
    """``--threads``: torch's threads in this process (and, through it, in
    each worker process a run starts)."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
