"""Evaluation of attributions, mirroring :mod:`captum.metrics`."""

from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics.perturbations import (
    EmbeddingNoise,
    token_to_embedding_attributions,
    WordMasking,
)

__all__ = [
    "EmbeddingNoise",
    "MetricResult",
    "WordMasking",
    "summarize",
    "token_to_embedding_attributions",
]
