"""The engine of input marginalization (Kim et al., EMNLP 2020): masked copies
of the units, the MLM candidates kept by threshold, top-k and mass (a beam over
multi-piece words), the candidate sentences and the weight of evidence behind
:class:`~captum_nlp_ext.attr.LayerInputMarginalization`."""

import math
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple

import torch
from torch import Tensor

from captum_nlp_ext._utils.batching import row_chunks
from captum_nlp_ext._utils.outputs import output_to_tensor
from captum_nlp_ext._utils.units import Units

# Probabilities are clamped to [EPS, 1 - EPS] before taking log-odds: float32
# probabilities cannot resolve 1 - p below about 6e-8, and a clamp keeps a
# saturated classifier's weight of evidence finite (at most 23.3 bits a side).
EPS = 1e-7


class MaskedUnits:
    """One masked copy per (example, unit): which tokens it masks."""

    def __init__(self, inputs: Tensor, units: Units) -> None:
        tokens = inputs.shape[1]
        valid = units.valid
        self.example, self.unit = valid.nonzero(as_tuple=True)
        self.count = int(self.example.numel())
        self.member = units.index[self.example] == self.unit.unsqueeze(1)
        self.sizes = self.member.sum(dim=1)
        longest = int(self.sizes.max())
        slots = torch.arange(tokens, device=inputs.device).expand_as(self.member)
        ordered = torch.where(self.member, slots, tokens).sort(dim=1).values
        ordered = ordered[:, :longest]
        # (units, pieces) positions of each unit's tokens, -1 past its last.
        self.positions = torch.where(ordered < tokens, ordered, -1)
        self.original = inputs[self.example].gather(1, self.positions.clamp(min=0))


class CandidateSelection:
    """Which candidates an MLM distribution contributes, and their weights."""

    def __init__(
        self,
        threshold: float,
        top_k: Optional[int],
        mass: Optional[float],
        keep_original: bool,
        beam: int,
    ) -> None:
        self.threshold = threshold
        self.top_k = top_k
        self.mass = mass
        self.keep_original = keep_original
        self.beam = beam

    def select(
        self, log_probs: Tensor, piece_valid: Tensor, original: Tensor, rows: Tensor
    ) -> "Candidates":
        """Candidates of a chunk of masked units.

        Args:
            log_probs (Tensor): (units, pieces, vocabulary) MLM log-probabilities
                        over the allowed tokens, float64.
            piece_valid (Tensor): (units, pieces) bool, False past a unit's end.
            original (Tensor): (units, pieces) the original tokens.
            rows (Tensor): (units,) the units' global indices.
        """
        single = piece_valid.sum(dim=1) == 1
        parts = []
        for group, width in ((single, 1), (~single, piece_valid.shape[1])):
            if bool(group.any()):
                parts.append(
                    self._select_group(
                        log_probs[group, :width],
                        piece_valid[group, :width],
                        original[group, :width],
                        rows[group],
                    )
                )
        return Candidates.concatenate(parts, piece_valid.shape[1])

    def _select_group(
        self, log_probs: Tensor, piece_valid: Tensor, original: Tensor, rows: Tensor
    ) -> "Candidates":
        if log_probs.shape[1] == 1:
            values, tokens, total = self._tokens(log_probs[:, 0], original[:, 0])
        else:
            values, tokens, total = self._words(log_probs, piece_valid, original)
        if bool((values[:, 0] <= 0).any()):
            raise ValueError(
                "The MLM gives no probability to any allowed candidate of a unit "
                "(every token it proposes is special or the original one)."
            )
        keep = self._keep(values / total.unsqueeze(1))
        weights = values * keep
        weights = weights / weights.sum(dim=1, keepdim=True)
        unit, slot = keep.nonzero(as_tuple=True)
        return Candidates(rows[unit], tokens[unit, slot], weights[unit, slot])

    def _tokens(
        self, log_probs: Tensor, original: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Single-token units: the candidates that can be kept, most likely
        first, (units, width) probabilities and (units, width, 1) tokens, and
        the allowed mass (units,)."""
        probs = log_probs.exp()
        if not self.keep_original:
            probs.scatter_(1, original.unsqueeze(1), 0.0)
        total = probs.sum(dim=1)
        passing = (probs / total.unsqueeze(1) > self.threshold).sum(dim=1)
        width = int(passing.max().clamp(min=1))
        if self.top_k is not None:
            width = min(width, self.top_k)
        values, indices = probs.topk(width, dim=1)
        return values, indices.unsqueeze(-1), total

    def _words(
        self, log_probs: Tensor, piece_valid: Tensor, original: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Multi-token units: as :meth:`_tokens`, from the beam search."""
        values, tokens = self._beam(log_probs, piece_valid)
        total = torch.ones_like(values[:, 0])
        if not self.keep_original:
            original_log_prob = (
                log_probs.gather(2, original.unsqueeze(-1))
                .squeeze(-1)
                .masked_fill(~piece_valid, 0.0)
                .sum(dim=1)
            )
            total = total - original_log_prob.exp()
            same = (tokens == original.unsqueeze(1)) | ~piece_valid.unsqueeze(1)
            values = values.masked_fill(same.all(dim=2), 0.0)
            values, order = values.sort(dim=1, descending=True)
            tokens = tokens.gather(1, order.unsqueeze(-1).expand_as(tokens))
        return values, tokens, total

    def _beam(self, log_probs: Tensor, piece_valid: Tensor) -> Tuple[Tensor, Tensor]:
        """Most likely piece combinations under the product of the per-piece
        distributions: (units, beam) probabilities (descending) and
        (units, beam, pieces) tokens."""
        units, pieces, vocab = log_probs.shape
        # Past a unit's end every row gets one dummy piece of probability 1.
        dummy = torch.full((vocab,), -math.inf).to(log_probs)
        dummy[0] = 0.0
        scores = torch.zeros(units, 1).to(log_probs)
        tokens = torch.zeros(units, 1, 0, dtype=torch.long, device=log_probs.device)
        for piece in range(pieces):
            step = torch.where(piece_valid[:, piece, None], log_probs[:, piece], dummy)
            width = min(self.beam, vocab)
            step_scores, step_tokens = step.topk(width, dim=1)
            combined = (scores.unsqueeze(2) + step_scores.unsqueeze(1)).flatten(1)
            scores, best = combined.topk(min(self.beam, combined.shape[1]), dim=1)
            parent, child = best // width, best % width
            tokens = torch.cat(
                [
                    tokens.gather(1, parent.unsqueeze(-1).expand(-1, -1, piece)),
                    step_tokens.gather(1, child).unsqueeze(-1),
                ],
                dim=2,
            )
        return scores.exp(), tokens

    def _keep(self, probs: Tensor) -> Tensor:
        """(units, width) bool over candidates of decreasing probability,
        renormalized over the allowed ones."""
        keep = probs > self.threshold
        if self.top_k is not None:
            keep[:, self.top_k :] = False
        if self.mass is not None:
            keep &= probs.cumsum(dim=1) - probs < self.mass
        keep[:, 0] = True
        return keep


class Candidates:
    """Kept candidates, flat: the masked unit each fills, its tokens and weight."""

    def __init__(self, unit: Tensor, tokens: Tensor, weight: Tensor) -> None:
        self.unit = unit
        self.tokens = tokens
        self.weight = weight

    @staticmethod
    def concatenate(parts: List["Candidates"], pieces: int) -> "Candidates":
        def padded(tokens: Tensor) -> Tensor:
            return torch.nn.functional.pad(tokens, (0, pieces - tokens.shape[1]))

        return Candidates(
            torch.cat([p.unit for p in parts]),
            torch.cat([padded(p.tokens) for p in parts]),
            torch.cat([p.weight for p in parts]),
        )

    def equals_original(self, masked: MaskedUnits) -> Tensor:
        """(candidates,) bool: the candidate sentence is the unperturbed one."""
        valid = masked.positions[self.unit] >= 0
        same = (self.tokens == masked.original[self.unit]) | ~valid
        return same.all(dim=1)

    def sentences(
        self, inputs: Tensor, masked: MaskedUnits, candidates: Tensor
    ) -> Tensor:
        """Token ids of the given candidates' sentences."""
        unit = self.unit[candidates]
        ids = inputs[masked.example[unit]].clone()
        positions = masked.positions[unit]
        valid = positions >= 0
        row = torch.arange(ids.shape[0], device=ids.device).unsqueeze(1)
        ids[row.expand_as(positions)[valid], positions[valid]] = self.tokens[
            candidates
        ][valid]
        return ids


def log2_odds(probs: Tensor) -> Tensor:
    probs = probs.clamp(EPS, 1 - EPS)
    return torch.log2(probs) - torch.log2(1 - probs)


def mlm_vocab_size(mlm: Any) -> Optional[int]:
    size = getattr(getattr(mlm, "config", None), "vocab_size", None)
    return size if isinstance(size, int) else None


def vocab_mismatch(classifier: int, mlm: int) -> str:
    return (
        f"Vocabulary mismatch: `layer` embeds {classifier} tokens but `mlm` "
        f"predicts over {mlm}. The MLM must share the classifier's tokenizer and "
        "vocabulary (BERT classifier -> BERT MLM)."
    )


def check_token_id(name: str, token: Any, vocab_size: int) -> int:
    if isinstance(token, bool) or not isinstance(token, int):
        raise TypeError(f"`{name}` must hold ints; got {type(token).__name__}.")
    if not 0 <= token < vocab_size:
        raise ValueError(
            f"`{name}` {token} is outside the vocabulary [0, {vocab_size - 1}]."
        )
    return token


DEFAULT_MLM_BATCH_SIZE = 32


@dataclass(frozen=True)
class TokenIds:
    """The ids :func:`propose` needs: the mask, the padding (None: attend to
    every token), the ids never proposed, and the vocabulary's size."""

    mask: int
    pad: Optional[int]
    specials: List[int]
    vocab_size: int


def propose(
    mlm: Callable[..., Any],
    inputs: Tensor,
    masked: MaskedUnits,
    selection: CandidateSelection,
    token_ids: "TokenIds",
    mlm_batch_size: Optional[int],
    show_progress: bool,
) -> Candidates:
    """Run the MLM on every masked copy (``mlm_batch_size`` copies a pass) and
    select each unit's candidates; special tokens are never proposed."""
    parts = []
    for rows in row_chunks(
        masked.count,
        mlm_batch_size or DEFAULT_MLM_BATCH_SIZE,
        show_progress,
        "IM masked LM",
        inputs.device,
    ):
        example = masked.example[rows]
        ids = inputs[example].masked_fill(masked.member[rows], token_ids.mask)
        attention = (
            torch.ones_like(ids)
            if token_ids.pad is None
            else (inputs[example] != token_ids.pad).long()
        )
        logits = output_to_tensor(mlm(ids, attention))
        if logits.dim() != 3 or logits.shape[:2] != ids.shape:
            raise ValueError(
                "`mlm` must return (batch, tokens, vocabulary) scores for "
                f"input ids {tuple(ids.shape)}; got {tuple(logits.shape)}."
            )
        if logits.shape[2] != token_ids.vocab_size:
            raise ValueError(vocab_mismatch(token_ids.vocab_size, logits.shape[2]))
        positions = masked.positions[rows]
        pieces = logits.gather(
            1,
            positions.clamp(min=0)
            .unsqueeze(-1)
            .expand(*positions.shape, logits.shape[2]),
        ).to(torch.float64)
        pieces[..., token_ids.specials] = -math.inf
        parts.append(
            selection.select(
                pieces.log_softmax(dim=-1),
                positions >= 0,
                masked.original[rows],
                rows,
            )
        )
    candidates = Candidates.concatenate(parts, masked.positions.shape[1])
    # A candidate model that reads one side only (a causal LM) weighs the
    # candidates it proposed by both sides in a second pass.
    posterior = getattr(mlm, "posterior", None)
    if callable(posterior):
        candidates = posterior(
            inputs, masked, candidates, mlm_batch_size, show_progress
        )
    return candidates
