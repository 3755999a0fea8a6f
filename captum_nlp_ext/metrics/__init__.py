"""Evaluation of attributions, mirroring :mod:`captum.metrics`."""

from captum_nlp_ext.metrics._removal import Removal, REMOVAL_MODES
from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics.consistency import (
    consistency_pairs,
    dataset_consistency,
    rationale_consistency,
)
from captum_nlp_ext.metrics.cost import attribution_cost, Cost, CostMeter
from captum_nlp_ext.metrics.diagnostics import confidence_indication, human_agreement
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
    bind_per_example,
    EmbeddingNoise,
    token_to_embedding_attributions,
    WordMasking,
)
from captum_nlp_ext.metrics.plausibility import (
    auprc,
    iou_f1,
    token_f1,
    word_score_correlation,
)
from captum_nlp_ext.metrics.sanity import model_randomization, randomization_stages

__all__ = [
    "EmbeddingNoise",
    "MetricResult",
    "WordMasking",
    "bind_per_example",
    "summarize",
    "token_to_embedding_attributions",
    "auprc",
    "token_f1",
    "iou_f1",
    "word_score_correlation",
    "human_agreement",
    "confidence_indication",
    "rationale_consistency",
    "dataset_consistency",
    "consistency_pairs",
    "Cost",
    "CostMeter",
    "attribution_cost",
    "model_randomization",
    "randomization_stages",
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
