"""LAFA on a causal LM's prompt: the reference texts of a prompt are texts of
a pool that could stand in its features' place, and each is explained there.

LAFA (Zhang et al., NAACL 2022) aggregates the gradient scores of a text's
nearest reference texts onto its tokens. For a prompt, what is explained is
the text in its feature slots (the review of a few-shot prompt, say); its
reference texts are the pool texts nearest to that text (pooled hidden states
of the explained model, as for a classifier), and a reference's scores are
those of the same continuation with the reference text in the slots' place:
the fixed text before and after stays, so a neighbour of a review is read as
a review of the same prompt.
"""

import copy
from typing import Any, Optional, Tuple

import torch
from torch import Tensor

from captum_nlp_ext.attr._core.layer_lafa import LayerLAFA
from captum_nlp_ext.attr._core.reference_index import Neighbours
from captum_nlp_ext.attr._utils.llm_scores import ContinuationScores


class PromptReferences:
    """The forward function LAFA sees on a prompt.

    Called as LAFA calls the explained rows (token ids alone) it is the
    continuation's scores; called as LAFA calls a reference text (token ids
    and attention mask, one text) it scores the continuation with that text's
    words in the features' place, between the fixed text around them.

    Args:
        scores (ContinuationScores): The explained rows' scores.
        before (Tensor): (1, b) fixed tokens between the cached prefix (or the
                    start) and the first feature.
        after (Tensor): (1, a) fixed tokens after the last feature.
        specials (Tensor): Ids that are not words (a pool text's ``<bos>``):
                    left out of the reference prompt.
    """

    def __init__(
        self,
        scores: ContinuationScores,
        before: Tensor,
        after: Tensor,
        specials: Tensor,
    ) -> None:
        self.scores = scores
        self.model = scores.model
        self.specials = specials
        scores.embed_continuations()
        with torch.no_grad():
            # Embedded now: inside LAFA the layer's hook replaces its output.
            self._before = scores.layer(before)
            self._after = scores.layer(after)

    def __call__(
        self, input_ids: Tensor, attention_mask: Optional[Tensor] = None
    ) -> Tensor:
        if attention_mask is None:
            return self.scores(input_ids)
        embedded = self.scores.layer(input_ids)
        words = (attention_mask > 0) & ~torch.isin(
            input_ids, self.specials.to(input_ids.device)
        )
        rows = input_ids.shape[0]
        # One text at a time (its noisy copies, for SmoothGrad, fill the rows).
        if not bool((words == words[:1]).all()) or not bool(words.any()):
            raise ValueError(
                "LAFA's reference texts of a prompt are read one at a time, and "
                "each needs a word."
            )
        prompt = torch.cat(
            [
                self._before.to(embedded).expand(rows, -1, -1),
                embedded[:, words[0]],
                self._after.to(embedded).expand(rows, -1, -1),
            ],
            dim=1,
        )
        return self.scores.from_embeddings(prompt)


class _PromptLAFA(LayerLAFA):
    """A ``LayerLAFA`` whose reference texts were chosen for the prompt's
    feature text (:func:`prompt_lafa`), not for the rows it is given."""

    prompt_neighbours: Neighbours

    def _select(
        self, inputs: Tensor, attention_mask: Tensor, target: Optional[Tensor]
    ) -> Neighbours:
        return self.prompt_neighbours


def prompt_lafa(
    method: LayerLAFA,
    scores: ContinuationScores,
    ids: Tensor,
    mask: Tensor,
    tokenizer: Any,
) -> LayerLAFA:
    """``method`` ready to explain the rows ``ids`` (1, tokens: the prompt
    after the cached prefix, then the target; ``mask`` their features, -1
    elsewhere) through ``scores``."""
    first, last = _feature_span(mask)
    specials = torch.tensor(tokenizer.all_special_ids, dtype=torch.long)
    features = ids[:, first : last + 1]
    # The query is the feature text encoded as the pool texts were: with the
    # tokenizer's own special tokens around it.
    words = features[0][~torch.isin(features[0], specials.to(features.device))]
    text = tokenizer.decode(words.tolist())
    query = tokenizer(text, return_tensors="pt")["input_ids"].to(ids.device)
    vectors = method.index.encode(query)[0]
    search = method.search
    neighbours = method.index.search(
        vectors,
        search.n_neighbours,
        max_distance=method.max_distance,
        exclude_ids=query if search.exclude_duplicates else None,
    )
    bound = _PromptLAFA.__new__(_PromptLAFA)
    bound.__dict__.update(copy.copy(vars(method)))
    bound.prompt_neighbours = neighbours
    # A reference's scores depend on this prompt and target: kept per call.
    bound._local_scores = {}
    n_prompt = scores.n_rows_prompt
    bound.forward_func = PromptReferences(
        scores, ids[:, :first], ids[:, last + 1 : n_prompt], specials
    )
    return bound


def _feature_span(mask: Tensor) -> Tuple[int, int]:
    """The first and last feature token; the features must be contiguous."""
    positions = (mask[0] >= 0).nonzero().flatten()
    first, last = int(positions[0]), int(positions[-1])
    if positions.numel() != last - first + 1:
        raise ValueError(
            "LAFA on a causal LM puts a reference text in the place of the "
            "prompt's features: they must be one run of tokens (a template "
            "whose slots are adjacent, e.g. few_shot_prompt's); this prompt has "
            "fixed text between features."
        )
    return first, last
