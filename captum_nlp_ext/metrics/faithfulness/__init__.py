"""Faithfulness metrics: does an explanation reflect what the model does?

Every metric takes the model's ``forward_func``, token ids, attributions from
any method (Captum's included), a ``feature_mask`` of words, ``target`` and
``additional_forward_args``, works at word level on a batch, and returns a
:class:`~captum_nlp_ext.metrics.MetricResult` (per-example values, mean, 95%
bootstrap interval) whose ``details`` name the removal mode and say whether
higher is better. Shared conventions (word scores, order, ties, the k% rule,
probabilities) are documented in :mod:`._erasure`; word removal in
:mod:`captum_nlp_ext.metrics._removal`.
"""

from captum_nlp_ext.metrics.faithfulness._erasure import (
    ERASER_PERCENTS,
    FERRET_PERCENTS,
)
from captum_nlp_ext.metrics.faithfulness.auc_rep import auc_rep
from captum_nlp_ext.metrics.faithfulness.curves import (
    deletion_curve,
    insertion_curve,
    mean_curve,
    plot_curves,
)
from captum_nlp_ext.metrics.faithfulness.delta_accuracy import delta_accuracy
from captum_nlp_ext.metrics.faithfulness.eraser import (
    aopc_comprehensiveness,
    aopc_sufficiency,
    comprehensiveness,
    log_odds,
    sufficiency,
)
from captum_nlp_ext.metrics.faithfulness.leave_one_out import (
    kendall_tau_loo,
    leave_one_out,
)
from captum_nlp_ext.metrics.faithfulness.soft_erasure import (
    soft_comprehensiveness,
    soft_sufficiency,
)

__all__ = [
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
