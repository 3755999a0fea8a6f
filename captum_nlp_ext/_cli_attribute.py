"""``captum-nlp attribute``: attributions of a whole corpus into Parquet shards,
on one process or under ``torchrun`` (see :mod:`captum_nlp_ext.corpus`)."""

import argparse
import os
from pathlib import Path
from typing import Any, Dict, Optional

from captum_nlp_ext._cli_checks import (
    check_device,
    CommandError,
    method_options,
    methods_of,
    mlm_of,
    model_dir,
    out_folder,
    positive_int,
)
from captum_nlp_ext.datasets.registry import DATASETS

#: Library argument names -> this command's flags (for error messages).
FLAGS = {
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


def run_attribute(args: argparse.Namespace) -> int:
    import torch

    from captum_nlp_ext.corpus import attribute_corpus
    from captum_nlp_ext.datasets.files import DatasetFile

    if args.threads:
        torch.set_num_threads(args.threads)
    methods = methods_of(args)
    out_folder(args.out)
    check_device(args.device)
    folder = model_dir(args.model, args.models_dir)
    fields = file_fields(args)
    reference_texts = None
    if args.reference_file:
        pool = DatasetFile(
            args.reference_file, text_field=(fields or {}).get("text_field") or "text"
        )
        reference_texts = [
            " ".join(e.words) for e in pool.examples(limit=args.reference_pool)
        ]
    run = attribute_corpus(
        folder,
        args.dataset,
        args.out,
        methods=methods,
        split=args.split,
        fields=fields,
        n=args.n,
        budget=args.budget,
        batch_size=args.batch_size,
        seed=args.seed,
        max_length=args.max_length,
        shard_size=args.shard_size,
        score_dtype=args.dtype,
        method_options=method_options(args.set or []),
        mlm=mlm_of(args, methods),
        reference_texts=reference_texts,
        skip_bad_rows=args.skip_bad_rows,
        data_dir=args.data_dir,
        overwrite=args.overwrite,
        show_progress=not (args.no_progress or args.quiet),
        device=args.device,
    )
    if int(os.environ.get("RANK", "0") or 0) == 0:
        print(
            f"wrote {run.run_dir}: {run.examples} examples ({run.explained} now, "
            f"{run.failed} failed) in {run.seconds:.1f} s on {run.ranks} "
            f"rank(s), {run.examples_per_second:.2f} examples/s"
        )
    return 0


def add_attribute(commands: Any, add_common: Any, add_output: Any) -> None:
    parser = commands.add_parser(
        "attribute",
        help="attributions (no metrics) of a whole corpus into Parquet shards; "
        "runs under torchrun for many processes and machines",
        description="Explain every example of a data set or file with each "
        "method into sharded Parquet files (one row per example and method). "
        "Start it with `torchrun --nproc-per-node N -m captum_nlp_ext attribute "
        "...` to share the work among N processes (several machines: "
        "--nnodes, --rdzv-endpoint; --out on a shared file system). A killed "
        "run resumes with any number of processes.",
    )
    add_common(parser, "nlgp")
    add_data_arguments(parser)
    parser.add_argument(
        "--split", help="split of a named data set or datasets folder (default: first)"
    )
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
        "--max-length",
        type=positive_int,
        default=None,
        help="tokens the model reads; longer texts are cut (default: 128, or the "
        "model's limit if lower)",
    )
    parser.add_argument(
        "--shard-size",
        type=positive_int,
        default=None,
        help="examples per Parquet file; a killed process loses at most one "
        "(default: the examples / 256, between 16 and 1024)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float16", "float32"),
        default="float16",
        help="type of the stored scores (default: float16)",
    )
    parser.add_argument(
        "--reference-file",
        help="a file whose first --reference-pool texts are LAFA's reference "
        "pool and DiffMask's probe texts (default: a named data set's training "
        "split)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        help="torch threads of each process (default: torch's)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        help="where each process runs the model (default: its GPU, LOCAL_RANK, "
        "when there is one, else the CPU)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh, deleting the folder's shards (default: resume)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (default: off)"
    )
    add_output(parser)
    parser.set_defaults(run=run_attribute)
