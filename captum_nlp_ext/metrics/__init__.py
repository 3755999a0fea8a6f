"""Evaluation of attributions, mirroring :mod:`captum.metrics`."""

from captum_nlp_ext.metrics._removal import Removal, REMOVAL_MODES
from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics.faithfulness import (
    aopc_comprehensiveness,
    aopc_sufficiency,
    auc_rep,
    comprehensiveness,
    deletion_curve,
    delta_accuracy,
    ERASER_PERCENTS,
    FERRET_PERCENTS,
    insertion_curve,
    kendall_tau_loo,
    leave_one_out,
    log_odds,
    mean_curve,
    plot_curves,
    soft_comprehensiveness,
    soft_sufficiency,
    sufficiency,
)
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
    "REMOVAL_MODES",
    "Removal",
    "ERASER_PERCENTS",
    "FERRET_PERCENTS",
    "aopc_comprehensiveness",
    "aopc_sufficiency",
    "auc_rep",
    "comprehensiveness",
    "deletion_curve",
    "delta_accuracy",
    "insertion_curve",
    "kendall_tau_loo",
    "leave_one_out",
    "log_odds",
    "mean_curve",
    "plot_curves",
    "soft_comprehensiveness",
    "soft_sufficiency",
    "sufficiency",
]
