"""User text shown to a person: in a terminal or in an HTML page, escaped so
that it cannot drive the terminal or reorder what the page shows."""

import html


def printable(text: str, keep: str = "") -> str:
    """``text`` with control and format characters shown escaped (``\\x1b``,
    ``\\u202e``), but those in ``keep``: ANSI / OSC escapes cannot drive a
    terminal, and bidirectional overrides cannot make ``evil`` read as
    ``live``."""
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


def escape_html(text: str) -> str:
    """``text`` for an HTML page: :func:`printable` (line breaks and tabs
    kept, as HTML reads them as spaces), then HTML-escaped."""
    return html.escape(printable(text, keep="\n\t"))


#: The style of the pages that show word scores as coloured ``<mark>``
#: elements (the explain page, the benchmark report).
WORDS_CSS = (
    "body{font-family:sans-serif;margin:1.5em}"
    "table{border-collapse:collapse}"
    "td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;"
    "vertical-align:top}"
    "mark{padding:1px 3px;margin:1px;border-radius:3px;line-height:1.9;color:#000}"
    ".legend mark{display:inline-block}"
    "mark.rationale{text-decoration:underline 2px;outline:1px solid #333}"
    ".note{margin:0.3em 0;color:#444}"
)
