"""An explanation of a causal LM's continuation in the shape of the removal
metrics of :mod:`captum_nlp_ext.metrics`, so that generation is scored by the
same machinery as classification."""

from dataclasses import dataclass
from typing import Any, Dict

import torch
from torch import Tensor

from captum_nlp_ext.attr._utils.llm_prompts import PromptUnits
from captum_nlp_ext.attr._utils.llm_scores import ContinuationScores


@dataclass(frozen=True)
class RemovalInputs:
    """An explanation of a causal LM's continuation in the shape every removal
    metric of :mod:`captum_nlp_ext.metrics` takes (``comprehensiveness``,
    ``sufficiency``, their AOPC, ``deletion_curve``, ``insertion_curve``...):
    pass ``**removal_inputs.metric_kwargs`` beside the metric's own options.

    The model reads prompt + target and answers with two classes, the
    target (class 1) against everything else (:math:`\\log p` and
    :math:`\\log(1 - p)`), or with a contrast the target against the contrast
    (the metric's softmax then compares the two continuations). So a metric's
    "probability of the target class" is the target's probability (per
    token: the geometric mean of its tokens', for a continuation of several),
    or its share of the two continuations'. Only prompt features are ever removed;
    the metric's ``removal`` should keep positions (``"pad"``, ``"unk"``,
    ``"mask"``), since the target is read at fixed positions.

    Attributes:
        forward_func (Callable): (rows, tokens) ids -> (rows, 2) log-probabilities.
        inputs (Tensor): (1, tokens) the prompt's and the target's ids.
        attributions (Tensor): (1, tokens) each prompt token carries its
                    feature's score; fixed text and the target 0.
        feature_mask (Tensor): (1, tokens) features, -1 on fixed text and target.
    """

    forward_func: Any
    inputs: Tensor
    attributions: Tensor
    feature_mask: Tensor

    @property
    def metric_kwargs(self) -> Dict[str, Any]:
        """The metrics' shared arguments: the above, ``target=1`` and
        ``output="logits"`` (their softmax of the two log-probabilities)."""
        return {
            "forward_func": self.forward_func,
            "inputs": self.inputs,
            "attributions": self.attributions,
            "feature_mask": self.feature_mask,
            "target": 1,
            "output": "logits",
        }


def removal_inputs(
    inp: Any, prompt: PromptUnits, seq_attr: Tensor, scores: ContinuationScores
) -> RemovalInputs:
    """The metrics' inputs for ``seq_attr`` (the result's, one score a value
    of ``inp``), the prompt read by ``scores`` (made with ``two_classes``)."""
    values = seq_attr.reshape(-1).float()
    if values.numel() != len(inp.values):
        raise ValueError(
            f"`seq_attr` has {values.numel()} scores; `inp` has {len(inp.values)} "
            "values (pass the result's seq_attr for this prompt)."
        )
    # A feature's score: that of its first value (grouped values share it).
    grouped = getattr(inp, "mask", None) is not None
    groups = inp.formatted_mask if grouped else range(len(values))
    feature_score = torch.zeros(prompt.n_features)
    for value, feature in reversed(list(enumerate(groups))):
        feature_score[feature] = values[value]
    device = scores.target_ids.device
    steps = scores.target_ids.numel()
    ids = torch.cat([prompt.input_ids[0].to(device), scores.target_ids])[None]
    mask = torch.cat([prompt.feature_mask[0], torch.full((steps,), -1)])[None]
    spread = torch.where(mask >= 0, feature_score[mask.clamp_min(0)], 0.0)
    return RemovalInputs(scores, ids, spread.to(device), mask.to(device))
