"""Command line: ``captum-nlp explain``, ``benchmark``, ``attribute`` and
``report`` (also ``python -m captum_nlp_ext``), one module per command.

A command module has ``add(commands)``, which adds its parser (with
``set_defaults(run=run)``), and ``run(args) -> int``; :data:`COMMANDS` lists
them. What the commands are doing goes to stderr (``--quiet`` silences it);
results go to stdout. A user's mistake ends with one line
``captum-nlp: error: ...`` naming the flag, and exit status 2 (``--debug`` shows
the traceback instead); a bug ends with exit status 1.
"""

from captum_nlp_ext.cli._main import build_parser, COMMANDS, main

__all__ = ["build_parser", "COMMANDS", "main"]
