r"""A causal language model as input marginalization's candidate model: the
replacements of a prompt token are what the model itself expects at that
position given the text before it.

Input marginalization (Kim et al., EMNLP 2020) marginalizes a token out under
a masked LM's distribution given both sides. No masked LM shares a causal LM's
tokenizer, and the causal LM has no mask token; what it does have is its own
next-token distribution, :math:`p(v \mid x_{<i})`, the distribution from
which the text at position :math:`i` is, by the model's own account, drawn.
Marginalizing over it asks how the continuation would change had the prompt
said at :math:`i` what the model expected there.
"""

import copy
import inspect
import math
from typing import Any, Dict, Optional

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.batching import row_chunks
from captum_nlp_ext._utils.hooks import eval_mode
from captum_nlp_ext._utils.outputs import output_to_tensor
from captum_nlp_ext._utils.tokens import token_id
from captum_nlp_ext._utils.units import build_units
from captum_nlp_ext.attr._utils.llm_prefix import PrefixCache
from captum_nlp_ext.attr._utils.marginalization import (
    Candidates,
    CandidateSelection,
    DEFAULT_MLM_BATCH_SIZE,
    MaskedUnits,
    propose,
    TokenIds,
)


class CausalLMCandidates:
    r"""A causal LM read as input marginalization's ``mlm``: at position
    :math:`i` it returns the model's logits for the token after
    :math:`x_{<i}`, so that
    :class:`~captum_nlp_ext.attr.LayerInputMarginalization` proposes, for a
    prompt token, the tokens the model expected there from its left context.

    Give it as ``mlm`` to an input marginalization explained through
    :class:`~captum_nlp_ext.attr.CausalLMAttribution`, which hands it the
    prompt's cached prefix (the demonstrations before the first feature), so
    that the left context includes them::

        im = LayerInputMarginalization(
            model, model.get_input_embeddings(), CausalLMCandidates(model),
            tokenizer=tokenizer,
        )
        CausalLMAttribution(im, tokenizer).attribute(prompt, target=" Paris",
                                                     top_k=50)

    For a unit of one token this is exact: the model never sees the masked
    token when predicting it. For a word of several tokens, all of them
    masked at once, the pieces after the first are predicted with the
    earlier ones replaced by ``mask_token_id`` (the mean-field
    approximation the masked-LM reading makes too); the first piece, which
    carries most of a word's choice, is exact. A feature at the very start of
    a prompt with no token before it (no ``<bos>``) gets a uniform
    distribution: the model has no prediction there.

    **Both sides.** A masked LM conditions on the text after the token too.
    ``both_sides=True`` does so with the causal LM's own chain (Bayes' rule):
    the candidates proposed from the left are weighed by
    :math:`p(v \mid x_{-i}) \propto p(v \mid x_{<i}) \prod_{j > i}
    p(x_j \mid x_{<j})`, the probability of the prompt from the token on with
    :math:`v` in its place (one more pass per candidate). On Gemma 3 270M's
    few-shot SST-2 prompts it did not beat the left context alone (AOPC
    comprehensiveness 0.094 against 0.108, paired difference -0.014
    [-0.026, -0.004], 17 dev sentences) at about 3x the time, nor on the
    planted task's language models (0.942 against 0.968 of prompts:
    ``benchmarks/llm/RESULTS.md``), so the left context is the default.

    Memory: each call projects every position of ``mlm_batch_size`` copies on
    the vocabulary (262k tokens for Gemma 3); lower input marginalization's
    ``mlm_batch_size`` on a long prompt.

    Args:
        model (Module): The Hugging Face causal LM (the one explained).
        mask_token_id (int, optional): The id that stands for a masked token
                    (read only by the later pieces of a multi-token unit).
                    Default: None (the model's padding id, else 0)
        both_sides (bool): Weigh the candidates by the text after the token
                    too (see above).
                    Default: False
    """

    def __init__(
        self,
        model: Module,
        *,
        mask_token_id: Optional[int] = None,
        both_sides: bool = False,
    ) -> None:
        if not isinstance(model, Module) or not callable(
            getattr(model, "get_input_embeddings", None)
        ):
            raise TypeError(
                "`model` must be a Hugging Face causal LM (a ...ForCausalLM); got "
                f"{type(model).__name__}."
            )
        mask = token_id("mask_token_id", mask_token_id, None, None)
        if mask is None:
            mask = token_id("pad_token_id", None, None, model)
        if not isinstance(both_sides, bool):
            raise TypeError(
                f"`both_sides` must be a bool; got {type(both_sides).__name__}."
            )
        self.both_sides = both_sides
        self.model = model
        self.mask_token_id = 0 if mask is None else mask
        # Input marginalization reads the vocabulary size and the mask token
        # from ``mlm.config``; the model's own config is left untouched.
        self.config = copy.copy(getattr(model, "config", None))
        if self.config is not None:
            self.config.mask_token_id = self.mask_token_id
        forward = getattr(model, "forward", model)
        self._keeps_logits = "logits_to_keep" in inspect.signature(forward).parameters
        self.prefix: Optional[PrefixCache] = None
        self.n_prompt: Optional[int] = None

    def after(
        self, prefix: Optional[PrefixCache], n_prompt: Optional[int] = None
    ) -> "CausalLMCandidates":
        """A copy that reads every row as a continuation of ``prefix`` whose
        first ``n_prompt`` tokens are prompt (the rest, the explained
        continuation, is never part of a candidate's context)."""
        bound = copy.copy(self)
        bound.prefix = prefix
        bound.n_prompt = n_prompt
        return bound

    def posterior(
        self,
        inputs: Tensor,
        masked: MaskedUnits,
        candidates: Candidates,
        batch_size: Optional[int],
        show_progress: bool,
    ) -> Candidates:
        r"""The candidates reweighted by both sides of the unit: by Bayes'
        rule on the model's chain of next-token probabilities,
        :math:`p(v \mid x_{-i}) \propto p(x_{<i}, v, x_{>i})`, whose part
        that depends on :math:`v` is the probability of the candidate prompt
        from the unit on. Renormalized over each unit's candidates; as
        proposed (the left side alone) with ``both_sides=False``."""
        if not self.both_sides:
            return candidates
        count = candidates.unit.numel()
        log_likelihood = torch.empty(count, dtype=torch.float64)
        for rows in row_chunks(
            count,
            batch_size or DEFAULT_MLM_BATCH_SIZE,
            show_progress,
            "IM candidate prompts",
            inputs.device,
        ):
            ids = candidates.sentences(inputs, masked, rows)
            end = ids.shape[1] if self.n_prompt is None else self.n_prompt
            start = masked.positions[candidates.unit[rows], 0]
            # Positions before the earliest unit of the chunk are the same in
            # every candidate: not projected on the vocabulary.
            first = int(start.min())
            logits = self(ids[:, :end], torch.ones_like(ids[:, :end]), first)
            tokens = ids[:, first:end, None]
            log_probs = (logits.gather(2, tokens) - logits.logsumexp(2, True))[..., 0]
            positions = torch.arange(first, end, device=ids.device)
            after = positions >= start[:, None]
            log_likelihood[rows.cpu()] = (log_probs * after).sum(1).double().cpu()
        log_likelihood = log_likelihood.to(candidates.weight.device)
        units = int(candidates.unit.max()) + 1
        top = torch.full((units,), -math.inf, dtype=torch.float64).to(log_likelihood)
        top = top.scatter_reduce(0, candidates.unit, log_likelihood, "amax")
        weight = (log_likelihood - top[candidates.unit]).exp()
        total = torch.zeros_like(top).index_add_(0, candidates.unit, weight)
        return Candidates(
            candidates.unit, candidates.tokens, weight / total[candidates.unit]
        )

    def __call__(
        self, input_ids: Tensor, attention_mask: Tensor, first: int = 0
    ) -> Tensor:
        """(rows, tokens - first, vocabulary) logits; position ``i`` holds
        the model's prediction of token ``first + i`` from the tokens before
        it. Only those positions are projected on the vocabulary where the
        model allows it (``logits_to_keep``)."""
        rows, tokens = input_ids.shape
        options: Dict[str, Any] = {"use_cache": False}
        mask = attention_mask
        if self.prefix is not None:
            options = self.prefix.for_rows(rows)
            mask = torch.cat(
                [attention_mask.new_ones(rows, self.prefix.length), attention_mask], 1
            )
        if first > 0 and self._keeps_logits:
            options["logits_to_keep"] = tokens - first + 1
        with torch.no_grad(), eval_mode(self.model):
            logits = output_to_tensor(
                self.model(input_ids=input_ids, attention_mask=mask, **options)
            )
        if first > 0:
            return logits[:, -(tokens - first) - 1 : -1]
        if self.prefix is not None:
            start = self.prefix.next_logits.to(logits).expand(rows, 1, -1)
        else:
            start = logits.new_zeros(rows, 1, logits.shape[-1])
        return torch.cat([start, logits[:, :-1]], dim=1)


def predicted_tokens(
    candidates: CausalLMCandidates,
    input_ids: Tensor,
    feature_mask: Tensor,
    token_ids: TokenIds,
    top_k: int = 8,
) -> Tensor:
    """(1, tokens) ``input_ids`` with each feature token replaced by the
    model's most likely other token there: the most probable of the
    ``top_k`` proposed from the left context, weighed by both sides with
    ``candidates.both_sides`` (each token alone, as a one-token unit of input
    marginalization with ``keep_original=False``)."""
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    each = torch.where(feature_mask >= 0, positions, -1)
    masked = MaskedUnits(
        input_ids, build_units(each, 1, input_ids.shape[1], input_ids.device)
    )
    found = propose(
        candidates,
        input_ids,
        masked,
        CandidateSelection(0.0, top_k, None, False, 1),
        token_ids,
        None,
        False,
    )
    best = torch.full((masked.count,), -1.0, dtype=torch.float64).to(found.weight)
    best = best.scatter_reduce(0, found.unit, found.weight, "amax")
    chosen = (found.weight == best[found.unit]).nonzero().flatten()
    # Ties (equal weights): the first, the most likely from the left.
    first = torch.full((masked.count,), found.unit.numel(), device=chosen.device)
    first = first.scatter_reduce(0, found.unit[chosen], chosen, "amin")
    replaced = input_ids.clone()
    replaced[0, masked.positions[:, 0]] = found.tokens[first, 0]
    return replaced
