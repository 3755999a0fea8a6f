r"""AUC_rep, the metric of input marginalization (Kim, Yi, Kim and Yoon,
"Interpretation of NLP models through input marginalization", EMNLP 2020).

Words are replaced one at a time, highest attribution first, by a masked
language model's guess: at step :math:`s` the next word's tokens are masked in
the current (already partly replaced) sentence, and each masked token becomes
the MLM's top-1 prediction, or its top-2 when the top-1 is the original token.
The run lasts :math:`S = \max(2, \lceil 0.2 (n - 1) \rceil)` steps for
:math:`n` words (at most :math:`n`); AUC_rep is the area under the target's
probability against the fraction of steps done, :math:`s / S` from 0 (the
original sentence) to 1, by the trapezoidal rule. Lower is better.

Our reading: the paper counts tokens; we count the words of ``feature_mask``
(tokens when it is None), and a word of several sub-tokens is replaced as one
unit with each sub-token's own prediction (a first-order approximation of the
joint). Because the replacements come from an MLM, AUC_rep favours methods
that use the same MLM (Pham et al. 2022): report deletion-based metrics beside
it.
"""

from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor

from captum_nlp_ext._utils.batching import evaluate_rows
from captum_nlp_ext._utils.deprecation import renamed_arguments, softmax_flag
from captum_nlp_ext._utils.hooks import run_forward
from captum_nlp_ext._utils.targets import TargetType
from captum_nlp_ext._utils.tokens import token_id
from captum_nlp_ext._utils.validation import check_float, check_int
from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics.faithfulness._erasure import (
    document,
    Erasure,
    prepare_erasure,
    to_probabilities,
)


class _TopTwoPredictions:
    """An MLM's two best token ids at every [MASK] position (0 elsewhere),
    banned ids excluded."""

    def __init__(
        self, mlm: Callable[..., Any], mask_id: int, banned_ids: Tensor
    ) -> None:
        self.mlm = mlm
        self.mask_id = mask_id
        self.banned_ids = banned_ids

    def __call__(self, ids: Tensor, *additional_forward_args: Any) -> Tensor:
        logits = run_forward(self.mlm, ids, additional_forward_args)
        if logits.dim() != 3 or logits.shape[:2] != ids.shape:
            raise ValueError(
                "`mlm` must return (batch, tokens, vocabulary) logits; got shape "
                f"{tuple(logits.shape)} for inputs {tuple(ids.shape)}."
            )
        if int(ids.max()) >= logits.shape[2]:
            raise ValueError(
                f"`mlm` predicts {logits.shape[2]} token ids but `inputs` holds id "
                f"{int(ids.max())}: the MLM must share the classifier's vocabulary."
            )
        masked = ids == self.mask_id
        candidates = logits[masked].detach().float()
        candidates[:, self.banned_ids.to(candidates.device)] = -float("inf")
        guesses = torch.zeros(*ids.shape, 2, dtype=torch.long, device=ids.device)
        guesses[masked] = candidates.topk(2, dim=-1).indices
        return guesses


def replacement_steps(count: Tensor, fraction: float, min_steps: int) -> Tensor:
    """(batch,) steps of each example: max(min_steps, ceil(fraction (n - 1))),
    at most n."""
    steps = torch.ceil(fraction * (count.double() - 1) - 1e-9).long()
    return torch.minimum(steps.clamp(min=min_steps), count)


def _replacement_run(
    erasure: Erasure,
    predict: _TopTwoPredictions,
    mask_id: int,
    steps: Tensor,
) -> Tensor:
    """(batch, max steps + 1) target probabilities along the replacement run."""
    assert erasure.ranks is not None
    batch = erasure.batch
    order = erasure.ranks.argsort(dim=1)
    current = erasure.inputs.clone()
    probabilities = torch.zeros(batch, int(steps.max()) + 1, device=current.device)
    probabilities[:, 0] = erasure.target_probability
    for step in range(int(steps.max())):
        active = (steps > step).nonzero().flatten()
        positions = erasure.units.index[active] == order[active, step].unsqueeze(1)
        masked = torch.where(
            positions,
            torch.full_like(positions, mask_id, dtype=current.dtype),
            current[active],
        )
        with torch.no_grad():
            guesses = evaluate_rows(
                predict,
                erasure.inputs,
                erasure.args,
                active,
                None,
                erasure.internal_batch_size,
                erasure.show_progress,
                "AUC_rep MLM",
                input_rows=lambda rows: masked[rows],
            )
            original = erasure.inputs[active]
            replacement = torch.where(
                guesses[..., 0] == original, guesses[..., 1], guesses[..., 0]
            )
            current[active] = torch.where(positions, replacement, current[active])
            replaced = current[active]
            output = evaluate_rows(
                erasure.forward_func,
                erasure.inputs,
                erasure.args,
                active,
                None,
                erasure.internal_batch_size,
                erasure.show_progress,
                "AUC_rep",
                input_rows=lambda rows: replaced[rows],
            )
        chosen = to_probabilities(output, erasure.output).gather(
            1, erasure.target[active].unsqueeze(1)
        )
        probabilities[active, step + 1] = chosen.squeeze(1)
    return probabilities


@renamed_arguments(
    apply_softmax=("output", softmax_flag),
    mask_id="mask_token_id",
    banned_ids="special_token_ids",
    fraction=("percent", lambda fraction: 100 * fraction),
)
@document
def auc_rep(
    forward_func: Callable[..., Any],
    mlm: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    *,
    mask_token_id: Optional[int] = None,
    tokenizer: Any = None,
    special_token_ids: Optional[Sequence[int]] = None,
    percent: float = 20.0,
    min_steps: int = 2,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    output: str = "logits",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> MetricResult:
    r"""AUC_rep: the area under the target's probability while the top words
    are replaced by a masked language model's predictions. Lower is better.

    Args:
        forward_func (Callable): The classifier's forward function.
        mlm (Callable): A masked language model sharing the classifier's
                    vocabulary (``AutoModelForMaskedLM``) or any callable;
                    called like ``forward_func``,
                    ``mlm(ids, *additional_forward_args)``, it returns
                    (batch, tokens, vocabulary) logits or a ``ModelOutput``.
        inputs (Tensor): (batch, tokens) token ids.
        attributions (Tensor): (batch, tokens) or (batch, tokens, hidden)
                    attributions from any method.
        mask_token_id (int, optional): The MLM's [MASK] id (deprecated name:
                    ``mask_id``). Default: None (the tokenizer's)
        tokenizer (PreTrainedTokenizerBase, optional): Supplies
                    ``mask_token_id`` and the special tokens the MLM may not
                    propose. Default: None
        special_token_ids (sequence of int, optional): Ids never used as
                    replacements, besides ``mask_token_id`` and the
                    tokenizer's special ids (deprecated name: ``banned_ids``).
                    Default: None
        percent (float): Steps are ``max(min_steps, ceil(percent / 100 *
                    (words - 1)))``, at most the number of words (deprecated
                    name: ``fraction``, a share in [0, 1]). Default: 20.0
        min_steps (int): The fewest steps. Default: 2
        {tail_args}
        {run_args}

    Returns:
        MetricResult ``auc_rep``; ``details["steps"]`` holds each example's
        number of steps.
    """
    check_float("percent", percent, 0.0, 100.0)
    check_int("min_steps", min_steps, 1)
    mask_id = token_id("mask_token_id", mask_token_id, tokenizer=tokenizer)
    if mask_id is None:
        raise ValueError(
            "`mask_token_id` is needed (or a `tokenizer` with a mask_token_id)."
        )
    check_int("mask_token_id", mask_id, 0)
    banned = {mask_id, *(special_token_ids or ())}
    banned |= set(getattr(tokenizer, "all_special_ids", None) or ())
    erasure = prepare_erasure(
        forward_func=forward_func,
        inputs=inputs,
        attributions=attributions,
        feature_mask=feature_mask,
        target=target,
        additional_forward_args=additional_forward_args,
        removal=None,
        output=output,
        pool=pool,
        internal_batch_size=internal_batch_size,
        show_progress=show_progress,
    )
    steps = replacement_steps(erasure.units.count, percent / 100, min_steps)
    predict = _TopTwoPredictions(
        mlm, mask_id, torch.tensor(sorted(banned), dtype=torch.long)
    )
    probabilities = _replacement_run(erasure, predict, mask_id, steps).double()
    width = 1.0 / steps.double().unsqueeze(1)
    pieces = (probabilities[:, 1:] + probabilities[:, :-1]) / 2 * width
    inside = torch.arange(pieces.shape[1], device=steps.device) < steps.unsqueeze(1)
    areas = (pieces * inside).sum(dim=1)
    return summarize(
        "auc_rep",
        areas,
        **erasure.details(
            removal="mlm-replacement",
            mask_token_id=mask_id,
            percent=percent,
            steps=steps.tolist(),
            higher_is_better=False,
        ),
    )
