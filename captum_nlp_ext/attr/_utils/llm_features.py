"""Captum's feature methods (FeatureAblation, Lime...) on a causal LM's
prompt, with our scores: the prompt is perturbed as Captum perturbs it (a
template slot becomes its baseline text, a token its baseline id) and each
perturbed prompt is read on its own, as in Captum's ``LLMAttribution``."""

from copy import copy
from typing import Any, Dict, List

import torch
from captum.attr import Attribution
from torch import Tensor

from captum_nlp_ext.attr._utils.llm_scores import ContinuationScores


class _PerturbedPrompts:
    """Forward function of Captum's feature methods: (rows, features) 0/1
    presence -> (rows, columns) scores of the continuation."""

    def __init__(self, inp: Any, tokenizer: Any, scores: ContinuationScores) -> None:
        self.inp = inp
        self.tokenizer = tokenizer
        self.scores = scores

    def __call__(self, presence: Tensor) -> Tensor:
        rows = []
        device = self.scores.target_ids.device
        for row in presence.unbind(0):
            prompt = self.inp.to_model_input(row[None])
            if isinstance(prompt, str):
                ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"]
            else:
                ids = prompt
            ids = ids.to(device)
            # One prompt length per row: a removed slot shortens the prompt.
            self.scores.n_prompt = ids.shape[1]
            rows.append(self.scores(torch.cat([ids, self.scores.target_ids[None]], 1)))
        return torch.cat(rows)


def feature_attributions(
    method: Attribution,
    inp: Any,
    tokenizer: Any,
    scores: ContinuationScores,
    per_token: bool,
    kwargs: Dict[str, Any],
) -> Tensor:
    """(1 [+ T], features) attributions of the score [and of each target
    token] by one of Captum's feature methods."""
    clone = copy(method)
    clone.forward_func = _PerturbedPrompts(inp, tokenizer, scores)
    presence = inp.to_tensor().to(scores.target_ids.device)
    columns = 1 + scores.target_ids.numel() if per_token else 1
    n_prompt = scores.n_prompt
    out: List[Tensor] = []
    try:
        with torch.no_grad():
            for column in range(columns):
                values = clone.attribute(presence, target=column, **kwargs)
                out.append(values.reshape(1, -1).float())
    finally:
        scores.n_prompt = n_prompt
    return torch.cat(out)
