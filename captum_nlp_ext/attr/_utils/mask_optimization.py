"""The engine of mask optimization (MaRC; Brinner and Zarriess, ACL Findings
2023): the mask parametrization, the losses, the stopping rule and the
optimization loop behind :class:`~captum_nlp_ext.attr.LayerMaskOptimization`."""

import math
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module
from tqdm.auto import tqdm

from captum_nlp_ext._utils.batching import (
    DEFAULT_INTERNAL_BATCH_SIZE,
    index_additional_forward_args,
    needed_columns,
)
from captum_nlp_ext._utils.hooks import replacing_layer_output, run_forward
from captum_nlp_ext._utils.random import example_generator
from captum_nlp_ext._utils.units import Units
from captum_nlp_ext._utils.windows import Rows
from captum_nlp_ext.attr._utils.mask_settings import MaskOptimizationSettings, MIN_WIDTH

# The paper's stopping rule (spec): the mean mask has settled, the mask is small,
# and either enough steps were taken or the mask is clearly sparse.
SETTLED_CHANGE = 1 / 200
SETTLED_CHANGE_SPARSE = 1 / 80
SPARSE_MEAN = 0.2
MIN_STEPS = 199
EARLY_MEAN = 0.3
MAX_MEAN = 0.45

# Our rule ("ranking"): the units' order has settled, i.e. the Spearman
# correlation of an example's masks between two checks is at least this. The
# paper's rule also needs a sparse mask (mean < 0.45), which short texts whose
# every word matters never reach (SST-2 masks end at a mean of 0.6-0.9), so
# they ran every step. Chosen on SST-2 dev with checks every 25 steps
# (benchmarks/marc/RESULTS.md, "Stopping").
RANK_CORRELATION = 0.95
# Before this many steps the order reflects the initial bumps (edge effects),
# not the model, and can look settled: no stop (at checks every 25 steps the
# first possible stop is at 50 anyway).
MIN_RANKING_STEPS = 50


# Passes of the running examples: padding past this share of a pass's tokens
# starts a new pass, once the pass holds this many rows.
MAX_PADDING = 0.05
MIN_PASS_ROWS = 16


@dataclass(frozen=True)
class Settings:
    """The options of one ``attribute`` call: the method's settings and the
    call's own."""

    options: MaskOptimizationSettings
    stdevs: float
    max_steps: int
    internal_batch_size: Optional[int]
    show_progress: bool
    seeds: Optional[List[int]]  # one per example


class MaskOptimizer:
    """The mask parameters of every row and the loop that fits them."""

    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: Module,
        rows: Rows,
        row_inputs: Tensor,
        row_args: Tuple,
        row_units: Units,
        embeddings: Tensor,
        reference_embeddings: Tensor,
        target: Tensor,
        row_lengths: Tensor,
        settings: Settings,
    ) -> None:
        self.forward_func, self.layer = forward_func, layer
        self.rows = rows
        self.row_inputs = row_inputs
        self.row_args = row_args
        self.row_units = row_units
        self.embeddings = embeddings
        self.difference = embeddings - reference_embeddings
        self.target = target
        self.settings = settings
        self.rows_of = rows.rows_of(target.shape[0])
        self.valid = row_units.valid
        self.counts = row_units.count.tolist()
        self.included_counts = row_units.included.sum(1).tolist()
        self.row_lengths = row_lengths.tolist()
        self.example_lengths = [
            max(self.row_lengths[r] for r in rows) for rows in self.rows_of
        ]
        device = embeddings.device
        seeds = settings.seeds
        self.generators = [
            example_generator(None if seeds is None else seeds[e], device)
            for e in range(len(self.rows_of))
        ]

    def run(self) -> Tensor:
        """Optimize and return the (rows, max_units) soft masks."""
        settings = self.settings
        device = self.embeddings.device
        shape = self.valid.shape
        options = settings.options
        weight = torch.full(
            shape, options.initial_weight, device=device, requires_grad=True
        )
        width = torch.full(
            shape, options.initial_width, device=device, requires_grad=True
        )
        optimizer = torch.optim.AdamW([weight, width], lr=options.lr)
        stopped = torch.zeros(len(self.rows), dtype=torch.bool, device=device)
        previous: Optional[Tensor] = None
        check_every = options.checks_every
        progress = tqdm(
            total=settings.max_steps,
            desc="MaRC",
            disable=not settings.show_progress,
            leave=False,
        )
        try:
            for step in range(settings.max_steps):
                if check_every is not None and step > 0 and step % check_every == 0:
                    with torch.no_grad():
                        masks = gaussian_mask(weight, width, self.valid)
                    stopped |= self.should_stop(masks, previous, step)
                    previous = masks
                running = [
                    i
                    for i, rows in enumerate(self.rows_of)
                    if not bool(stopped[rows].all())
                ]
                if not running:
                    break
                progress.set_postfix(running=len(running))
                passes = self._passes(running)
                gradients = [torch.zeros_like(weight), torch.zeros_like(width)]
                for examples in passes:
                    loss = self._loss(examples, weight, width)
                    for total, grad in zip(
                        gradients, torch.autograd.grad(loss, [weight, width])
                    ):
                        total += grad
                weight.grad, width.grad = gradients
                kept = (weight.detach().clone(), width.detach().clone())
                optimizer.step()
                with torch.no_grad():
                    width.clamp_(min=MIN_WIDTH)
                    frozen = stopped.unsqueeze(1)
                    weight.copy_(torch.where(frozen, kept[0], weight))
                    width.copy_(torch.where(frozen, kept[1], width))
                progress.update()
        finally:
            progress.close()
        with torch.no_grad():
            return gaussian_mask(weight, width, self.valid)

    def should_stop(
        self, masks: Tensor, previous: Optional[Tensor], step: int
    ) -> Tensor:
        """(rows,) bool: the rows whose masks ``masks`` (now, after ``step``
        steps) and ``previous`` (at the last check; None at the first) meet the
        stopping rule."""
        if self.settings.options.stopping_rule == "paper":
            before = (
                torch.ones(masks.shape[0], device=masks.device)
                if previous is None
                else mean_mask(previous, self.valid)
            )
            return stopping_rule(mean_mask(masks, self.valid), before, step)
        if previous is None or step < MIN_RANKING_STEPS:
            return torch.zeros(masks.shape[0], dtype=torch.bool, device=masks.device)
        return ranking_rule(masks, previous, self.valid)

    def _passes(self, running: List[int]) -> List[List[int]]:
        """Running examples grouped into passes of at most ``internal_batch_size``
        rows (each window of an example twice: kept part and complement), at
        least one example a pass, longest first. A pass of at least
        :data:`MIN_PASS_ROWS` rows is also closed before an example whose
        padding would take it past :data:`MAX_PADDING` of its tokens (fewer,
        fuller passes cost less than padding only down to that size on CPU:
        ``benchmarks/benchmark/RESULTS.md``)."""
        budget = self.settings.internal_batch_size or DEFAULT_INTERNAL_BATCH_SIZE
        running = sorted(running, key=lambda i: -self.example_lengths[i])
        passes: List[List[int]] = [[]]
        used = tokens = width = 0
        for i in running:
            rows = 2 * len(self.rows_of[i])
            real = 2 * sum(self.row_lengths[r] for r in self.rows_of[i])
            padded = width * (used + rows)
            too_padded = used >= MIN_PASS_ROWS and 1 - (tokens + real) / padded > (
                MAX_PADDING
            )
            if passes[-1] and (used + rows > budget or too_padded):
                passes.append([])
                used = tokens = 0
            if not passes[-1]:
                width = self.example_lengths[i]
            passes[-1].append(i)
            used += rows
            tokens += real
        return passes

    def _loss(self, examples: List[int], weight: Tensor, width: Tensor) -> Tensor:
        """The loss of some examples: their classification terms and the
        regularizers of their rows."""
        settings = self.settings
        rows = [r for i in examples for r in self.rows_of[i]]
        index = torch.tensor(rows, device=weight.device)
        # Columns past every row's last token are padding for all of them.
        length = max(self.row_lengths[r] for r in rows)
        units = self.row_units.select(index)
        units = Units(units.index[:, :length], units.count)
        valid = self.valid[index]
        masks = gaussian_mask(weight[index], width[index], valid)
        forced, gaussian = self._draw_noise(examples, rows, length)
        noisy = torch.where(forced >= 0, forced, masks)
        token_masks = units.to_tokens(noisy).unsqueeze(-1)
        included = units.included.unsqueeze(-1)
        embeddings = self.embeddings[index, :length]
        difference = self.difference[index, :length]
        masked = torch.where(
            included, embeddings - (1 - token_masks) * difference, embeddings
        )
        complement = torch.where(
            included, embeddings - token_masks * difference, embeddings
        )
        # A low-precision model gets its own dtype back; the mask stays float32.
        mixed = (torch.cat([masked, complement]) + gaussian).to(self.embeddings.dtype)
        both = torch.cat([index, index])
        args = tuple(
            (
                arg[:, :length]
                if isinstance(arg, Tensor)
                and arg.dim() >= 2
                and arg.shape[:2]
                == (
                    len(both),
                    self.embeddings.shape[1],
                )
                else arg
            )
            for arg in index_additional_forward_args(
                self.row_args, both, len(self.rows)
            )
        )
        with replacing_layer_output(self.layer, lambda _: mixed):
            output = run_forward(
                self.forward_func, self.row_inputs[both, :length], args
            )
        log_probs = log_probabilities(output.float(), settings.options.classifier)
        sizes = torch.tensor([len(self.rows_of[i]) for i in examples])
        chosen = torch.tensor(examples, device=index.device)
        sufficiency, comprehensiveness = classification_losses(
            log_probs[: len(rows)],
            log_probs[len(rows) :],
            torch.repeat_interleave(torch.arange(len(examples)), sizes).to(
                index.device
            ),
            self.target[chosen],
        )
        compactness, width_prior = regularizers(masks, width[index], valid)
        options = settings.options
        if options.prior_length is not None:
            words = valid.sum(1).to(width_prior.dtype)
            width_prior = width_prior * (words / options.prior_length).clamp(max=1)
        return (
            options.sufficiency_weight * sufficiency.sum()
            + options.comprehensiveness_weight * comprehensiveness.sum()
            + options.compactness_weight * compactness.sum()
            + options.width_weight * width_prior.sum()
        )

    def _draw_noise(
        self, examples: List[int], rows: List[int], length: int
    ) -> Tuple[Tensor, Tensor]:
        """Forced mask values ((rows, max_units); -1 = not forced) and Gaussian
        embedding noise ((2 * rows, length, hidden)) for one step.

        Each example draws from its own generator, in the same amounts whatever
        the batch, so that a seeded example gets the same noise alone or
        batched.
        """
        p_zero, p_one = self.settings.options.p_zero, self.settings.options.p_one
        std = self.settings.stdevs
        device, dtype = self.embeddings.device, self.embeddings.dtype
        hidden = self.embeddings.shape[2]
        forced = torch.full(
            (len(rows), self.valid.shape[1]), -1.0, device=device, dtype=dtype
        )
        gaussian = torch.zeros(2, len(rows), length, hidden, device=device, dtype=dtype)
        included = self.row_units.included
        slot = 0
        for i in examples:
            generator = self.generators[i]
            for row in self.rows_of[i]:
                count = self.counts[row]
                draw = torch.rand(count, generator=generator, device=device)
                forced[slot, :count] = torch.where(
                    draw < p_zero,
                    0.0,
                    torch.where(draw < p_zero + p_one, 1.0, -1.0),
                ).to(dtype)
                gaussian[:, slot, included[row, :length]] = std * torch.randn(
                    2,
                    self.included_counts[row],
                    hidden,
                    generator=generator,
                    device=device,
                    dtype=dtype,
                )
                slot += 1
        return forced, gaussian.view(2 * len(rows), length, hidden)


def gaussian_mask(weight: Tensor, width: Tensor, valid: Tensor) -> Tensor:
    r"""MaRC's mask: :math:`m_j = \sigma(\sum_k w_k \exp(-(j-k)^2 / s_k^2))`.

    Args:
        weight (Tensor): (rows, units) bump weights :math:`w_k`.
        width (Tensor): (rows, units) bump widths :math:`s_k` > 0.
        valid (Tensor): (rows, units) bool; invalid slots add no bump and get 0.

    Returns:
        (rows, units) mask values in (0, 1) on valid slots.
    """
    position = torch.arange(weight.shape[1], device=weight.device, dtype=weight.dtype)
    distance = (position.view(1, -1, 1) - position.view(1, 1, -1)) ** 2
    bumps = torch.exp(-distance / width.unsqueeze(1) ** 2)
    logits = (bumps * (weight * valid).unsqueeze(1)).sum(-1)
    return torch.sigmoid(logits) * valid


def regularizers(masks: Tensor, width: Tensor, valid: Tensor) -> Tuple[Tensor, Tensor]:
    """Per row: compactness (mean mask)^2 and width prior mean(-log s), over the
    valid units."""
    width_prior = (-torch.log(width) * valid).sum(1) / valid.sum(1)
    return mean_mask(masks, valid) ** 2, width_prior


def classification_losses(
    masked: Tensor, complement: Tensor, group: Tensor, target: Tensor
) -> Tuple[Tensor, Tensor]:
    r"""Per example: sufficiency :math:`-\log \bar p_y(e_m)` and comprehensiveness
    :math:`-\log(1 - \bar p_y(e_c))`, where :math:`\bar p` is the mean of the
    probabilities of an example's rows (windows).

    Args:
        masked (Tensor): (rows, classes) log-probabilities of the kept parts.
        complement (Tensor): (rows, classes) log-probabilities of the removed
                    parts.
        group (Tensor): (rows,) long; each row's example, 0..examples-1, rows of
                    an example consecutive.
        target (Tensor): (examples,) classes.
    """
    examples = target.shape[0]
    row_target = target[group].unsqueeze(1)
    kept = masked.gather(1, row_target).squeeze(1)
    others = complement.scatter(1, row_target, -math.inf).logsumexp(1)
    sufficiency = -group_log_mean(kept.unsqueeze(1), group, examples).squeeze(1)
    comprehensiveness = -group_log_mean(others.unsqueeze(1), group, examples)
    return sufficiency, comprehensiveness.squeeze(1)


def stopping_rule(mean: Tensor, previous: Tensor, step: int) -> Tensor:
    """The paper's stopping rule, per row, at a check after ``step`` steps.

    Args:
        mean (Tensor): (rows,) mean mask now.
        previous (Tensor): (rows,) mean mask at the previous check (1 at the
                    first).
        step (int): Steps taken so far.

    Returns:
        (rows,) bool: rows to stop.
    """
    change = (mean - previous).abs()
    settled = (change < SETTLED_CHANGE) | (
        (change < SETTLED_CHANGE_SPARSE) & (mean < SPARSE_MEAN)
    )
    return settled & ((step >= MIN_STEPS) | (mean < EARLY_MEAN)) & (mean < MAX_MEAN)


def ranking_rule(masks: Tensor, previous: Tensor, valid: Tensor) -> Tensor:
    """Our stopping rule, per row: the order of the valid units' masks has
    settled, the Spearman correlation of the masks now and at the previous
    check being at least :data:`RANK_CORRELATION` (with fewer than three
    units: the same order).

    Args:
        masks (Tensor): (rows, units) masks now.
        previous (Tensor): (rows, units) masks at the previous check.
        valid (Tensor): (rows, units) bool.

    Returns:
        (rows,) bool: rows to stop.
    """
    stop = torch.zeros(masks.shape[0], dtype=torch.bool, device=masks.device)
    for row in range(masks.shape[0]):
        now, before = masks[row][valid[row]], previous[row][valid[row]]
        if now.numel() < 3:
            stop[row] = bool(torch.equal(now.argsort(), before.argsort()))
            continue
        ranks = torch.stack([now.argsort().argsort(), before.argsort().argsort()])
        correlation = torch.corrcoef(ranks.double())[0, 1]
        stop[row] = bool(correlation >= RANK_CORRELATION)
    return stop


def row_lengths(
    row_inputs: Tensor, row_units: Units, pad_token_id: Optional[int]
) -> Tensor:
    """(rows,) columns each row needs: up to its last token that is a unit or
    not padding. Padding after it is dropped from the forward passes, which
    changes nothing for a model that masks padding out."""
    tokens = row_inputs.shape[1]
    if row_inputs.is_floating_point() or pad_token_id is None:
        return torch.full((row_inputs.shape[0],), tokens)
    return needed_columns((row_inputs != pad_token_id) | row_units.included)


def mean_mask(masks: Tensor, valid: Tensor) -> Tensor:
    return (masks * valid).sum(1) / valid.sum(1)


def log_probabilities(output: Tensor, classifier: str) -> Tensor:
    """(rows, classes) log-probabilities; a sigmoid logit z becomes the two
    classes [negative, positive] = log-softmax([0, z])."""
    if output.dim() == 1:
        output = output.unsqueeze(1)
    if output.dim() != 2:
        raise ValueError(
            "`forward_func` must return (batch, classes) logits or one logit per "
            f"example; got shape {tuple(output.shape)}."
        )
    sigmoid = output.shape[1] == 1
    if classifier == "sigmoid" and not sigmoid:
        raise ValueError(
            "`classifier`='sigmoid' needs one logit per example; `forward_func` "
            f"returns {output.shape[1]}."
        )
    if classifier == "softmax" and sigmoid:
        raise ValueError(
            "`classifier`='softmax' needs at least two logits per example; "
            "`forward_func` returns one (use 'sigmoid')."
        )
    if sigmoid:
        output = torch.cat([torch.zeros_like(output), output], dim=1)
    return torch.log_softmax(output, dim=1)


def group_log_mean(values: Tensor, group: Tensor, groups: int) -> Tensor:
    """log of the mean of exp(values) over the rows of each group.

    Args:
        values (Tensor): (rows, columns) log values.
        group (Tensor): (rows,) long; rows of a group consecutive.
        groups (int): Number of groups.

    Returns:
        (groups, columns).
    """
    counts = torch.bincount(group, minlength=groups)
    offsets = torch.cumsum(counts, 0) - counts
    slot = torch.arange(group.shape[0], device=group.device) - offsets[group]
    table = values.new_full((groups, int(counts.max()), values.shape[1]), -math.inf)
    table[group, slot] = values
    return table.logsumexp(1) - counts.clamp_min(1).log().unsqueeze(1).to(values)
