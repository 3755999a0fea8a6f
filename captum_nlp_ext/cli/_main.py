"""The ``captum-nlp`` program: its parser (each command adds its own) and
how it reports what happens.

What the commands are doing goes to stderr (``--quiet`` silences it); results
go to stdout. A user's mistake ends with one line ``captum-nlp: error: ...``
and exit status 2 (``--debug`` shows the traceback instead).
"""

import argparse
import logging
import re
import sys
import warnings
from typing import Any, Optional, Sequence

from captum_nlp_ext._utils.distributed import launch_rank
from captum_nlp_ext.cli import attribute, benchmark, explain, report
from captum_nlp_ext.cli._checks import CommandError
from captum_nlp_ext.cli._common import FLAGS

_LOG = logging.getLogger("captum_nlp_ext")
#: The commands, in the order ``--help`` lists them; each module adds its own.
COMMANDS = (explain, benchmark, attribute, report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="captum-nlp", description="Explain NLP classifiers with Captum."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add(commands)
    return parser


def _flags(text: str) -> str:
    """Library argument names (```max_length```) turned into the flags typed."""

    def flag(match: "re.Match[str]") -> str:
        return FLAGS.get(match.group(1), match.group(0))

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
