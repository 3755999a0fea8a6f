"""The knobs of MaRC's optimization, as one checked value."""

import math
from dataclasses import dataclass
from typing import Optional

from captum_nlp_ext._utils.validation import (
    check_choice,
    check_float,
    check_int,
    check_optional_int,
)

CLASSIFIERS = ("auto", "softmax", "sigmoid")
STOPPING_RULES = ("ranking", "paper")
# Steps between two checks of each stopping rule when ``check_every`` is None:
# ours checks often, the paper's every 50 steps (its spec).
CHECK_EVERY = {"ranking": 25, "paper": 50}
# Widths are projected back above this after every step: the width prior
# -log(s) is undefined at s <= 0, which one large Adam step could reach.
MIN_WIDTH = 0.01

_WEIGHTS = (
    "sufficiency_weight",
    "comprehensiveness_weight",
    "compactness_weight",
    "width_weight",
)


@dataclass(frozen=True, kw_only=True)
class MaskOptimizationSettings:
    r"""How :class:`~captum_nlp_ext.attr.LayerMaskOptimization` (MaRC; Brinner
    and Zarriess, Findings of ACL 2023) fits its masks: the loss, the mask's
    parametrization, the optimizer and the stopping rule. Give it to the
    constructor, ``LayerMaskOptimization(forward, layer,
    settings=MaskOptimizationSettings(lr=0.01))``; the defaults are those of
    ``LayerMaskOptimization`` without settings. Every value is checked when the
    object is made; :func:`dataclasses.replace` gives a changed copy.

    Args:
        sufficiency_weight (float): Weight :math:`\lambda_s` of
                    :math:`-\log p_y(e_m)`, >= 0.
                    Default: 1.0
        comprehensiveness_weight (float): Weight :math:`\lambda_c` of
                    :math:`-\log(1 - p_y(e_c))`, >= 0 (not both 0).
                    Default: 1.0
        compactness_weight (float): Weight :math:`\lambda_m` of the squared
                    mean mask, >= 0.
                    Default: 1.0
        width_weight (float): Weight :math:`\lambda_w` of the width prior
                    :math:`\mathrm{mean}_k(-\log s_k)`, >= 0.
                    Default: 1.2
        prior_length (int, optional): The number of words (units) at which the
                    width prior has ``width_weight``; a row of K <
                    ``prior_length`` words gets ``width_weight * K /
                    prior_length`` (our rule, not the paper's). The paper's mean
                    over words makes each width's pull toward wider bumps grow
                    as 1 / K, and its weight was set for windows of about 500
                    tokens: on a 10-word sentence the prior spreads every word's
                    weight over the whole sentence and the masks go flat (a
                    planted keyword ranked first in 40% of sentences with the
                    paper's weight, 100% with this rule;
                    ``benchmarks/marc/RESULTS.md``). None: the paper's weight at
                    every length.
                    Default: 400 (about the words of a 500-token window)
        initial_weight (float): Initial bump weight :math:`w_k`.
                    Default: 1.2
        initial_width (float): Initial bump width :math:`s_k`, >= 0.01.
                    Default: 2.0
        p_zero (float): Probability that a unit's mask is forced to 0 in a step.
                    Default: 0.05
        p_one (float): Probability that it is forced to 1 (``p_zero + p_one <=
                    1``).
                    Default: 0.05
        lr (float): AdamW learning rate, > 0.
                    Default: 0.03
        early_stopping (bool): Apply the stopping rule; False runs exactly
                    ``max_steps`` steps.
                    Default: True
        stopping_rule (str): ``"ranking"`` (stop when the Spearman correlation
                    of the masks at two checks is >= 0.95, not before 50 steps;
                    ours) or ``"paper"`` (the paper's rule on the mean mask,
                    which also needs a sparse mask).
                    Default: "ranking"
        check_every (int, optional): Steps between two checks of the stopping
                    rule.
                    Default: None (25 for "ranking", the paper's 50 for
                    "paper")
        classifier (str): ``"softmax"`` (two or more logits), ``"sigmoid"`` (one
                    logit), or ``"auto"``: sigmoid for a (batch,) or (batch, 1)
                    output, softmax otherwise.
                    Default: "auto"
    """

    sufficiency_weight: float = 1.0
    comprehensiveness_weight: float = 1.0
    compactness_weight: float = 1.0
    width_weight: float = 1.2
    prior_length: Optional[int] = 400
    initial_weight: float = 1.2
    initial_width: float = 2.0
    p_zero: float = 0.05
    p_one: float = 0.05
    lr: float = 0.03
    early_stopping: bool = True
    stopping_rule: str = "ranking"
    check_every: Optional[int] = None
    classifier: str = "auto"

    def __post_init__(self) -> None:
        for name in _WEIGHTS:
            check_float(name, getattr(self, name), 0.0, low_inclusive=True)
        if self.sufficiency_weight == 0 and self.comprehensiveness_weight == 0:
            raise ValueError(
                "`sufficiency_weight` and `comprehensiveness_weight` are both 0: at "
                "least one must be > 0, or nothing ties the mask to the model."
            )
        check_optional_int("prior_length", self.prior_length, 1)
        check_float("initial_weight", self.initial_weight, -math.inf)
        check_float("initial_width", self.initial_width, MIN_WIDTH, low_inclusive=True)
        for name in ("p_zero", "p_one"):
            check_float(name, getattr(self, name), 0.0, 1.0, low_inclusive=True)
        if self.p_zero + self.p_one > 1:
            raise ValueError(
                f"`p_zero` + `p_one` must be <= 1; got {self.p_zero} + {self.p_one}."
            )
        check_float("lr", self.lr, 0.0)
        if not isinstance(self.early_stopping, bool):
            raise TypeError(
                f"`early_stopping` must be True or False; got {self.early_stopping!r}."
            )
        check_choice("stopping_rule", self.stopping_rule, STOPPING_RULES)
        if self.check_every is not None:
            check_int("check_every", self.check_every, 1)
        check_choice("classifier", self.classifier, CLASSIFIERS)

    @property
    def checks_every(self) -> Optional[int]:
        """Steps between two checks of the stopping rule; None: no early stop."""
        if not self.early_stopping:
            return None
        if self.check_every is None:
            return CHECK_EVERY[self.stopping_rule]
        return self.check_every
