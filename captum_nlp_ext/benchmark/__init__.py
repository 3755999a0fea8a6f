"""Run attribution methods on a model and a data set, and compare them.

:func:`run_benchmark` explains examples with every registered method (ours and
Captum's, :data:`METHODS`; :func:`register_method` adds one), scores them with
every metric (:data:`METRICS`) and writes a resumable run folder (what it
explains and how: :class:`DataSource`, :class:`RunSettings`);
:func:`write_report` and :func:`markdown_table` show one or several run folders.
"""

from captum_nlp_ext.benchmark.report import markdown_table, write_report
from captum_nlp_ext.benchmark.runner import run_benchmark
from captum_nlp_ext.benchmark.store import load_run
from captum_nlp_ext.engine.methods import (
    MethodContext,
    METHODS,
    MethodSpec,
    register_method,
)
from captum_nlp_ext.engine.metrics import METRICS
from captum_nlp_ext.engine.settings import DataSource, RunSettings

__all__ = [
    "DataSource",
    "METHODS",
    "METRICS",
    "MethodContext",
    "MethodSpec",
    "load_run",
    "markdown_table",
    "register_method",
    "run_benchmark",
    "RunSettings",
    "write_report",
]
