"""``captum-nlp attribute``: attributions of a whole corpus into Parquet shards,
on one process or under ``torchrun`` (see :mod:`captum_nlp_ext.corpus`)."""

import argparse
from dataclasses import replace
from typing import Any

from captum_nlp_ext._utils.distributed import launch_rank
from captum_nlp_ext.cli._checks import (
    check_device,
    model_dir,
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
    from captum_nlp_ext.corpus import attribute_corpus
    from captum_nlp_ext.datasets.files import DatasetFile

    set_threads(args)
    settings = run_settings(args)
    out_folder(args.out)
    check_device(args.device)
    folder = model_dir(args.model, args.models_dir)
    source = data_source(args)
    if args.reference_file:
        pool = DatasetFile(
            args.reference_file,
            text_field=(source.fields or {}).get("text_field") or "text",
        )
        texts = tuple(
            " ".join(e.words) for e in pool.examples(limit=settings.reference_pool)
        )
        settings = replace(settings, reference_texts=texts)
    run = attribute_corpus(
        folder,
        source,
        args.out,
        settings,
        shard_size=args.shard_size,
        score_dtype=args.dtype,
        overwrite=args.overwrite,
        show_progress=not (args.no_progress or args.quiet),
        device=args.device,
    )
    if launch_rank() == 0:
        print(
            f"wrote {run.run_dir}: {run.examples} examples ({run.explained} now, "
            f"{run.failed} failed) in {run.seconds:.1f} s on {run.ranks} "
            f"rank(s), {run.examples_per_second:.2f} examples/s"
        )
    return 0


def add(commands: Any) -> None:
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
    add_run_flags(
        parser,
        "tokens the model reads; longer texts are cut (default: 128, or the "
        "model's limit if lower)",
    )
    parser.add_argument(
        "--split", help="split of a named data set or datasets folder (default: first)"
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
    add_output(parser)
    parser.set_defaults(run=run)
