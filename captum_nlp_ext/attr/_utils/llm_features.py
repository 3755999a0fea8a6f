"""Captum's feature methods (FeatureAblation, Lime...) on a causal LM's
prompt, with our scores: the prompt is perturbed as Captum perturbs it (a
template slot becomes its baseline text, a token its baseline id) and read
as Captum's ``LLMAttribution`` reads it (the same scores), in batches of
prompts of one length that share the fixed start's cache."""

from copy import copy
from typing import Any, cast, Dict, List, Optional

import torch
from captum.attr import Attribution
from torch import Tensor

from captum_nlp_ext._utils.batching import DEFAULT_INTERNAL_BATCH_SIZE
from captum_nlp_ext.attr._utils.llm_prefix import PrefixCache
from captum_nlp_ext.attr._utils.llm_scores import ContinuationScores


class _PerturbedPrompts:
    """Forward function of Captum's feature methods: (rows, features) 0/1
    presence -> (rows, columns) scores of the continuation. Prompts of one
    length are read together; those that start with the cached prefix (the
    fixed text before the first feature, which no presence vector removes)
    continue its cache."""

    def __init__(
        self,
        inp: Any,
        tokenizer: Any,
        scores: ContinuationScores,
        prefix: Optional[PrefixCache],
        prefix_ids: Optional[Tensor],
    ) -> None:
        self.inp = inp
        self.tokenizer = tokenizer
        self.scores = scores
        self.prefix = prefix
        self.prefix_ids = prefix_ids

    def __call__(self, presence: Tensor) -> Tensor:
        device = self.scores.target_ids.device
        prompts = [self._ids(row).to(device) for row in presence.unbind(0)]
        out: List[Optional[Tensor]] = [None] * len(prompts)
        lengths = sorted({ids.shape[0] for ids in prompts})
        for length in lengths:
            group = [i for i, ids in enumerate(prompts) if ids.shape[0] == length]
            ids = torch.stack([prompts[i] for i in group])
            # One prompt length per group: a removed slot shortens the prompt.
            self.scores.n_prompt = length
            self.scores.prefix = None
            if self.prefix is not None and self._starts_with_prefix(ids):
                self.scores.prefix = self.prefix
                ids = ids[:, self.prefix.length :]
            target = self.scores.target_ids[None].expand(len(group), -1)
            values = self.scores(torch.cat([ids, target], 1))
            for row, i in enumerate(group):
                out[i] = values[row]
        return torch.stack(cast(List[Tensor], out))

    def _ids(self, presence: Tensor) -> Tensor:
        prompt = self.inp.to_model_input(presence[None])
        if isinstance(prompt, str):
            return self.tokenizer(prompt, return_tensors="pt")["input_ids"][0]
        return prompt.reshape(-1)

    def _starts_with_prefix(self, ids: Tensor) -> bool:
        assert self.prefix_ids is not None
        width = self.prefix_ids.shape[0]
        return ids.shape[1] > width and bool(
            (ids[:, :width] == self.prefix_ids.to(ids.device)).all()
        )


def feature_attributions(
    method: Attribution,
    inp: Any,
    tokenizer: Any,
    scores: ContinuationScores,
    per_token: bool,
    kwargs: Dict[str, Any],
    prefix_ids: Optional[Tensor] = None,
) -> Tensor:
    """(1 [+ T], features) attributions of the score [and of each target
    token] by one of Captum's feature methods. With ``prefix_ids`` (the
    prompt's fixed start) the perturbed prompts continue its key/value
    cache; they are read ``perturbations_per_eval`` at a time (Captum's
    option; by default :data:`DEFAULT_INTERNAL_BATCH_SIZE`)."""
    prefix = None
    if prefix_ids is not None and prefix_ids.numel() > 0:
        prefix = PrefixCache(
            scores.model, prefix_ids[None].to(scores.target_ids.device)
        )
    clone = copy(method)
    clone.forward_func = _PerturbedPrompts(inp, tokenizer, scores, prefix, prefix_ids)
    presence = inp.to_tensor().to(scores.target_ids.device)
    columns = 1 + scores.target_ids.numel() if per_token else 1
    options = {"perturbations_per_eval": DEFAULT_INTERNAL_BATCH_SIZE, **kwargs}
    n_prompt, cached = scores.n_prompt, scores.prefix
    out: List[Tensor] = []
    try:
        with torch.no_grad():
            for column in range(columns):
                values = clone.attribute(presence, target=column, **options)
                out.append(values.reshape(1, -1).float())
    finally:
        scores.n_prompt, scores.prefix = n_prompt, cached
    return torch.cat(out)
