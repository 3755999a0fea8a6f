"""Run attribution methods on a model and a dataset, and compare them."""

from captum_nlp_ext.benchmark.report import markdown_table, write_report

__all__ = ["markdown_table", "write_report"]
