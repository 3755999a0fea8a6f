"""HTML pages from Jinja2 templates (``captum_nlp_ext/templates``), with
every value escaped: autoescaping on for every template, and each text made
printable first (:func:`~captum_nlp_ext._utils.text.printable`: control and
bidirectional characters neutralised), so user text cannot add markup or make
one word read as another."""

import functools
from typing import Any

from captum_nlp_ext._utils.imports import require
from captum_nlp_ext._utils.text import printable


def _finalize(value: Any) -> Any:
    markup = require("markupsafe", "MarkupSafe>=2.1", "Writing HTML pages").Markup
    if isinstance(value, str) and not isinstance(value, markup):
        # Line breaks and tabs kept: HTML reads them as spaces.
        return printable(value, keep="\n\t")
    return value


def colour(score: float) -> str:
    """A word's background for ``score`` in [-1, 1] (clipped): Captum's
    palette, green for support, red against, white for neutral."""
    score = max(-1.0, min(1.0, float(score)))
    if score > 0:
        return f"hsl(120, 75%, {100 - int(50 * score)}%)"
    return f"hsl(0, 75%, {100 - int(-40 * score)}%)"


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    jinja2 = require("jinja2", "Jinja2>=3.1", "Writing HTML pages")
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("captum_nlp_ext", "templates"),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["colour"] = colour
    return environment


def render(template: str, **context: Any) -> str:
    """The page ``template`` (a file in ``captum_nlp_ext/templates``)."""
    return _environment().get_template(template).render(**context)


def macro(template: str, name: str, *args: Any) -> str:
    """What macro ``name`` of ``template`` renders for ``args``."""
    return str(getattr(_environment().get_template(template).module, name)(*args))
