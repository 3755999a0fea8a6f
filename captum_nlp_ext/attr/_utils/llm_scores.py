"""What an explanation of a causal LM explains: a score of a continuation of
the prompt, computed from the model's logits on prompt + continuation.

:class:`ContinuationScores` is the forward function that the wrapped method
sees. It takes the token ids of prompt + target, rows of perturbed copies at
once, and returns (rows, 1 + T) scores: column 0 the score being explained,
columns 1..T the log-probability (or probability) of each of the T target
tokens, so that a method that fits every output at once (NLGP) gives the
per-output-token matrix from the same passes.
"""

import inspect
import math
from typing import Any, Callable, Dict, Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.hooks import recording_layer_output
from captum_nlp_ext._utils.outputs import output_to_tensor
from captum_nlp_ext.attr._utils.llm_prefix import PrefixCache

#: The named scores; a callable is the third kind.
SCORES = ("log_prob", "prob")
ScoreType = Union[str, Callable[[Tensor], Tensor]]


def token_log_probs(logits: Tensor, start: int, target_ids: Tensor) -> Tensor:
    """(rows, T) log-probabilities of ``target_ids`` continuing position
    ``start`` (the logits at ``start - 1 + t`` predict target token ``t``)."""
    steps = target_ids.shape[0]
    window = logits[:, start - 1 : start - 1 + steps].float()
    log_probs = torch.log_softmax(window, dim=-1)
    index = target_ids.to(logits.device).view(1, steps, 1)
    return log_probs.gather(2, index.expand(logits.shape[0], -1, -1)).squeeze(-1)


def _logits(output: object) -> Tensor:
    logits = output_to_tensor(output)
    # Llama 4 style (rows, 1, tokens, vocab) outputs: one head.
    return logits[:, 0] if logits.dim() == 4 else logits


class ContinuationScores:
    r"""Scores of a continuation of a prompt, for rows of (perturbed) copies.

    A plain callable, not a Module: the methods find the model (its padding
    id, its config) through its ``model`` attribute.

    Args:
        model (Module): The causal LM (a Hugging Face ``...ForCausalLM``).
        layer (Module): Its input embedding layer (used for a contrast with
                    several tokens, whose second continuation is fed as
                    embeddings after the perturbed prompt).
        n_prompt (int): Tokens of the prompt.
        target_ids (Tensor): (T,) the continuation explained.
        score (str or Callable): ``"log_prob"``, ``"prob"``, or a callable
                    taking the (rows, T) target-token log-probabilities and
                    returning (rows,) scores.
        contrast_ids (Tensor, optional): (T',) a second continuation; the
                    score is then ``log p(target) - log p(contrast)`` (for
                    ``"prob"``, ``p(target) - p(contrast)``).
        prefix (PrefixCache, optional): The cache of the prompt's first
                    tokens, which are never perturbed; the rows then hold the
                    rest of the prompt and the target only.
        two_classes (bool): Return (rows, 2) log-probabilities of two
                    classes instead, for the methods whose objective reads a
                    classifier's distribution (MaRC) and for the removal
                    metrics: class 1 is the target, class 0 everything else
                    (:math:`\log(1 - p)`), or, with a contrast, the contrast
                    (the methods' log-softmax then compares the two
                    continuations alone). Without a contrast, :math:`p` is the
                    target's per-token geometric mean probability
                    (:math:`\exp` of its mean token log-probability): a
                    ten-token continuation's own probability is so small
                    (1e-8 for Gemma's greedy continuations of IMDB openings)
                    that every change of it reads as 0.
    """

    def __init__(
        self,
        model: Module,
        layer: Module,
        n_prompt: int,
        target_ids: Tensor,
        score: ScoreType = "log_prob",
        contrast_ids: Optional[Tensor] = None,
        prefix: Optional[PrefixCache] = None,
        two_classes: bool = False,
    ) -> None:
        if two_classes and callable(score):
            raise ValueError(
                "A callable `attr_target` has no probability to read as a class: "
                "methods with a classifier's objective (MaRC) need 'log_prob' or "
                "'prob'."
            )
        self.two_classes = two_classes
        self.model = model
        self.layer = layer
        self.n_prompt = n_prompt
        self.target_ids = target_ids
        self.score = score
        self.contrast_ids = contrast_ids
        self.prefix = prefix
        forward = getattr(model, "forward", model)
        self._keeps_logits = "logits_to_keep" in inspect.signature(forward).parameters
        self._contrast_embeddings: Optional[Tensor] = None
        self._target_embeddings: Optional[Tensor] = None
        if contrast_ids is not None and not self._same_position_contrast:
            with torch.no_grad():
                device = next(model.parameters()).device
                self._contrast_embeddings = layer(contrast_ids.to(device)[None])

    @property
    def per_token(self) -> bool:
        """Whether columns 1..T hold per-target-token scores (not for a
        contrast or a callable: their score is not a sum over tokens)."""
        return (
            self.contrast_ids is None
            and isinstance(self.score, str)
            and not self.two_classes
        )

    @property
    def _same_position_contrast(self) -> bool:
        return (
            self.contrast_ids is not None
            and self.contrast_ids.numel() == 1
            and self.target_ids.numel() == 1
        )

    @property
    def n_rows_prompt(self) -> int:
        """Prompt tokens in each row (those past the cached prefix)."""
        return self.n_prompt - (0 if self.prefix is None else self.prefix.length)

    def __call__(self, input_ids: Tensor) -> Tensor:
        start = self.n_rows_prompt
        if self.contrast_ids is None or self._same_position_contrast:
            logits, at = self._run(start, input_ids=input_ids)
            target = token_log_probs(logits, at, self.target_ids)
            if self.contrast_ids is None:
                return self._scores(target)
            other = token_log_probs(logits, at, self.contrast_ids)
            return self._contrast(target, other)
        # The prompt's (perturbed) embeddings, as the method's hook left them,
        # are read back and continued with the contrast's own embeddings.
        with recording_layer_output(self.layer) as prompt:
            logits, at = self._run(start, input_ids=input_ids)
        assert prompt.output is not None and self._contrast_embeddings is not None
        target = token_log_probs(logits, at, self.target_ids)
        rows = input_ids.shape[0]
        embeddings = torch.cat(
            [
                prompt.output[:, :start],
                self._contrast_embeddings.to(prompt.output).expand(rows, -1, -1),
            ],
            dim=1,
        )
        logits, at = self._run(start, inputs_embeds=embeddings)
        other = token_log_probs(logits, at, self.contrast_ids)
        return self._contrast(target, other)

    def embed_continuations(self) -> None:
        """Embed the target (and contrast) once, before a method hooks the
        embedding layer: :meth:`from_embeddings` appends them."""
        device = next(self.model.parameters()).device
        with torch.no_grad():
            self._target_embeddings = self.layer(self.target_ids.to(device)[None])
            if self.contrast_ids is not None:
                self._contrast_embeddings = self.layer(
                    self.contrast_ids.to(device)[None]
                )

    def from_embeddings(self, prompt: Tensor) -> Tensor:
        """The scores of the continuation after another prompt given as
        (rows, tokens, hidden) embeddings (after the cached prefix, if any):
        what :meth:`__call__` computes from token ids. Call
        :meth:`embed_continuations` first."""
        rows, start = prompt.shape[:2]

        def after(continuation: Optional[Tensor]) -> Tensor:
            assert continuation is not None, "call embed_continuations() first"
            tail = continuation.to(prompt).expand(rows, -1, -1)
            return torch.cat([prompt, tail], dim=1)

        logits, at = self._run(start, inputs_embeds=after(self._target_embeddings))
        target = token_log_probs(logits, at, self.target_ids)
        if self.contrast_ids is None:
            return self._scores(target)
        if not self._same_position_contrast:
            logits, at = self._run(
                start, inputs_embeds=after(self._contrast_embeddings)
            )
        return self._contrast(target, token_log_probs(logits, at, self.contrast_ids))

    def _run(self, start: int, **inputs: Tensor) -> Tuple[Tensor, int]:
        """The logits from position ``start - 1`` on (those that predict the
        continuation), and where the continuation starts in them. Only those
        positions are projected on the vocabulary where the model allows it
        (``logits_to_keep``): a 262k-token vocabulary over every position of
        every perturbed copy would dominate the memory of a long prompt."""
        rows, tokens = next(iter(inputs.values())).shape[:2]
        options: Dict[str, Any] = {"use_cache": False}
        if self._keeps_logits:
            options["logits_to_keep"] = tokens - start + 1
        if self.prefix is not None:
            options.update(self.prefix.for_rows(rows))
            options.pop("use_cache")
        device = next(iter(inputs.values())).device
        width = tokens + (0 if self.prefix is None else self.prefix.length)
        mask = torch.ones(rows, width, dtype=torch.long, device=device)
        logits = _logits(self.model(**inputs, attention_mask=mask, **options))
        return logits, (1 if self._keeps_logits else start)

    def _contrast(self, target: Tensor, other: Tensor) -> Tensor:
        if self.two_classes:
            return torch.stack([other.sum(1), target.sum(1)], dim=1)
        if self.score == "prob":
            value = target.sum(1).exp() - other.sum(1).exp()
        else:
            value = target.sum(1) - other.sum(1)
        return value.unsqueeze(1)

    def _scores(self, target: Tensor) -> Tensor:
        if self.two_classes:
            # log(1 - p), kept finite where p rounds to 1.
            log_p = target.mean(1).clamp_max(math.log1p(-1e-6))
            return torch.stack([torch.log(-torch.expm1(log_p)), log_p], dim=1)
        if callable(self.score):
            value = self.score(target)
            if not isinstance(value, Tensor) or value.shape != target.shape[:1]:
                raise ValueError(
                    "A callable `attr_target` must map the (rows, T) target-token "
                    "log-probabilities to (rows,) scores; got "
                    f"{getattr(value, 'shape', type(value).__name__)}."
                )
            return value.unsqueeze(1)
        columns = torch.cat([target.sum(1, keepdim=True), target], dim=1)
        return columns.exp() if self.score == "prob" else columns
