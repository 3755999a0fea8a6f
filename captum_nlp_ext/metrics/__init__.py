"""Evaluation of attributions, mirroring :mod:`captum.metrics`."""

from captum_nlp_ext.metrics._result import MetricResult, summarize

__all__ = ["MetricResult", "summarize"]
