"""What every faithfulness metric shares: checks at the door, word scores and
their order, the k%-of-words rule, and the model's probabilities on copies of
the examples with words removed.

Conventions, the same in every metric:

- **Word scores.** Attributions of shape (batch, tokens), or (batch, tokens,
  hidden) layer attributions summed over hidden (Captum's
  ``LayerIntegratedGradients`` output works as it is), are pooled into one
  score per unit of ``feature_mask`` (a word). ``pool="auto"`` takes the mean
  when every token of each word carries one shared value (unit-level methods:
  Occlusion or FeatureAblation with a feature mask, LayerNLGP, leave-one-out)
  and the sum otherwise (token-level methods: a word's total effect); decided
  for each example.
- **Order.** Words are ranked by score, highest first; ties keep the words'
  order in the sentence (a stable sort), so the earlier word ranks first.
- **k% of words.** ``ceil(k / 100 * n)`` of an example's ``n`` words (computed
  with a 1e-9 guard against floating point error), at least one when k > 0, and
  none when k = 0; k = 100 is every word.
- **Probabilities.** ``output="logits"`` (the default) turns
  ``forward_func``'s output (batch, classes) into probabilities (softmax; the
  sigmoid of a single logit); pass ``output="probs"`` when it returns
  probabilities already (e.g. ``ClassifierForward(model, output="probs")``).
  The deprecated ``apply_softmax=True/False`` means ``"logits"``/``"probs"``.
- **Target.** None means the class predicted on the unperturbed inputs.
"""

from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple, Union

import torch
from torch import Tensor

from captum_nlp_ext._utils.hooks import run_forward
from captum_nlp_ext._utils.outputs import logits_to_probabilities
from captum_nlp_ext._utils.ranking import word_ranks
from captum_nlp_ext._utils.targets import resolve_target, select_target, TargetType
from captum_nlp_ext._utils.units import build_units, POOLS, Units
from captum_nlp_ext._utils.validation import (
    check_choice,
    check_float,
    check_inputs,
    check_optional_int,
    format_additional_forward_args,
)
from captum_nlp_ext.metrics._removal import as_removal, evaluate_removed, Removal
from captum_nlp_ext.metrics._words import check_attributions

ERASER_PERCENTS = (1.0, 5.0, 10.0, 20.0, 50.0)
FERRET_PERCENTS = tuple(float(k) for k in range(10, 101, 10))


def check_token_ids(inputs: Any) -> Tensor:
    inputs = check_inputs(inputs)
    if inputs.dim() != 2:
        raise ValueError(
            "`inputs` must be token ids of shape (batch, tokens): faithfulness "
            f"metrics remove words from them; got shape {tuple(inputs.shape)}."
        )
    return inputs


def words_for_percent(percent: float, count: Tensor) -> Tensor:
    """(batch,) number of words in the top ``percent``% of ``count`` words."""
    exact = percent / 100.0 * count.to(torch.float64)
    n = torch.ceil(exact - 1e-9).long()
    if percent > 0:
        n = n.clamp(min=1)
    return torch.minimum(n, count)


def check_percents(name: str, percents: Any) -> Tuple[float, ...]:
    if isinstance(percents, (int, float)) and not isinstance(percents, bool):
        percents = (percents,)
    values = tuple(percents)
    if not values:
        raise ValueError(f"`{name}` must hold at least one percentage.")
    return tuple(check_float(name, k, 0.0, 100.0, low_inclusive=True) for k in values)


OUTPUTS = ("logits", "probs")


def to_probabilities(output: Tensor, kind: str) -> Tensor:
    if output.dim() != 2:
        raise ValueError(
            "Faithfulness metrics need `forward_func` to return (batch, classes) "
            f"scores; got shape {tuple(output.shape)}."
        )
    output = output.detach().float()
    return logits_to_probabilities(output) if kind == "logits" else output


@dataclass
class Erasure:
    """A batch ready for erasure: the model's original probabilities, the words
    and their ranks."""

    forward_func: Callable[..., Any]
    inputs: Tensor
    args: Tuple
    units: Units
    target: Tensor
    probabilities: Tensor
    output: str
    removal: Optional[Removal]
    internal_batch_size: Optional[int]
    show_progress: bool
    ranks: Optional[Tensor] = None
    scores: Optional[Tensor] = None

    @property
    def batch(self) -> int:
        return self.inputs.shape[0]

    @property
    def target_probability(self) -> Tensor:
        """(batch,) the target's probability on the unperturbed inputs."""
        return select_target(self.probabilities, self.target)

    def top_words(self, row_example: Tensor, n_top: Tensor) -> Tensor:
        """(rows, max_units) bool: the ``n_top[r]`` best-ranked words of row r."""
        assert self.ranks is not None
        return self.ranks[row_example] < n_top.unsqueeze(1)

    def row_probabilities(
        self, row_example: Tensor, keep_words: Tensor, desc: str
    ) -> Tensor:
        """(rows, classes) probabilities of copies that keep only ``keep_words``
        ((rows, max_units) bool) of their example's words."""
        assert self.removal is not None
        # Short sentences give the same copy for several k (1% and 5% of ten
        # words are both one word): each distinct copy is evaluated once.
        keys = torch.cat([row_example.unsqueeze(1), keep_words.long()], dim=1)
        distinct, inverse = torch.unique(keys, dim=0, return_inverse=True)
        distinct_example, distinct_keep = distinct[:, 0], distinct[:, 1:] > 0

        def row_keep(rows: Tensor) -> Tensor:
            units = self.units.select(distinct_example[rows])
            kept = units.to_tokens(distinct_keep[rows].float()) > 0
            return kept | ~units.included

        with torch.no_grad():
            output = evaluate_removed(
                self.forward_func,
                self.inputs,
                self.args,
                distinct_example,
                row_keep,
                self.removal,
                self.internal_batch_size,
                self.show_progress,
                desc,
            )
        return to_probabilities(output, self.output)[inverse]

    def row_target_probabilities(
        self, row_example: Tensor, keep_words: Tensor, desc: str
    ) -> Tensor:
        probabilities = self.row_probabilities(row_example, keep_words, desc)
        target = self.target[row_example.to(self.target.device)]
        return select_target(probabilities, target)

    def details(self, **more: Any) -> dict:
        """Settings recorded in every result."""
        base: dict = {"output": self.output}
        if self.removal is not None:
            base["removal"] = self.removal.mode
            base["removal_token_id"] = self.removal.token_id
        base.update(more)
        return base


def prepare_erasure(
    forward_func: Callable[..., Any],
    inputs: Any,
    attributions: Optional[Tensor],
    feature_mask: Optional[Tensor],
    target: TargetType,
    additional_forward_args: Any,
    removal: Union[None, str, Removal],
    output: str,
    pool: str,
    internal_batch_size: Optional[int],
    show_progress: bool,
) -> Erasure:
    """Validate a metric's arguments and run the model once on ``inputs``."""
    inputs = check_token_ids(inputs)
    args = format_additional_forward_args(additional_forward_args, inputs)
    check_optional_int("internal_batch_size", internal_batch_size, 1)
    check_choice("pool", pool, POOLS)
    removal_ = None if removal is None else as_removal(removal)
    scores = (
        None
        if attributions is None
        else check_attributions(attributions, like=inputs).to(inputs.device).float()
    )
    batch, tokens = inputs.shape
    units = build_units(feature_mask, batch, tokens, inputs.device)
    check_choice("output", output, OUTPUTS)
    with torch.no_grad():
        model_output = run_forward(forward_func, inputs, args)
    probabilities = to_probabilities(model_output, output)
    target_ = resolve_target(target, probabilities)
    assert target_ is not None
    erasure = Erasure(
        forward_func,
        inputs,
        args,
        units,
        target_,
        probabilities,
        output,
        removal_,
        internal_batch_size,
        show_progress,
    )
    if scores is not None:
        erasure.scores = units.pool(scores, pool)
        erasure.ranks = word_ranks(erasure.scores, units.valid)
    return erasure


_HEAD_ARGS = """forward_func (Callable): The model's forward function: takes
                    ``inputs`` then ``additional_forward_args`` and returns
                    (batch, classes) logits (or probabilities, see
                    ``output``) or a Hugging Face ``ModelOutput``.
        inputs (Tensor): (batch, tokens) token ids.
        attributions (Tensor): (batch, tokens) token attributions, or
                    (batch, tokens, hidden) layer attributions (summed over
                    hidden), from any method; they should explain ``target``."""

_FEATURE_MASK_ARG = """feature_mask (Tensor, optional): (batch, tokens) or (1, tokens)
                    unit ids: tokens sharing an id form one word; negative ids
                    ([CLS], [SEP], padding) are never removed. Build one with
                    :func:`captum_nlp_ext.huggingface.word_feature_mask`.
                    Default: None (every token is a word)"""
_TARGET_ARG = """target (int, list[int], Tensor, optional): Class whose probability
                    is tracked. Default: None (the predicted class)"""
_ADDITIONAL_ARGS = """additional_forward_args (Any, optional): Further positional
                    arguments of ``forward_func`` (attention mask, token type
                    ids); tensors with the batch as first dimension follow
                    their example. Default: None"""
_TAIL_ARGS = f"""{_FEATURE_MASK_ARG}
        {_TARGET_ARG}
        {_ADDITIONAL_ARGS}"""

_REMOVAL_ARG = '''removal (str or Removal): How words are removed: ``"delete"``, or
                    ``Removal("mask" | "pad" | "unk", tokenizer=...)``; see
                    :class:`captum_nlp_ext.metrics.Removal`. Default: "delete"'''

_RUN_ARGS = """output (str): What ``forward_func`` returns: ``"logits"``
                    (turned into probabilities) or ``"probs"``; the
                    deprecated ``apply_softmax`` flag maps to it.
                    Default: "logits"
        pool (str): Token attributions to word scores: ``"auto"``,
                    ``"sum"``, ``"mean"`` or ``"max_abs"`` (``"auto"``: mean
                    when the tokens of each word share one value, else sum).
                    Default: "auto"
        internal_batch_size (int, optional): Perturbed copies per forward
                    pass. Default: None (64)
        show_progress (bool): Show a progress bar. Default: False"""


_PLACEHOLDERS = {
    "{head_args}": _HEAD_ARGS,
    "{tail_args}": _TAIL_ARGS,
    "{feature_mask_arg}": _FEATURE_MASK_ARG,
    "{additional_args}": _ADDITIONAL_ARGS,
    "{removal_arg}": _REMOVAL_ARG,
    "{run_args}": _RUN_ARGS,
}


def document(func: Callable) -> Callable:
    """Fill a metric's docstring placeholders (``{head_args}``, ``{tail_args}``,
    ``{removal_arg}``, ``{run_args}``) with the arguments metrics share."""
    assert func.__doc__ is not None
    for placeholder, text in _PLACEHOLDERS.items():
        func.__doc__ = func.__doc__.replace(placeholder, text)
    return func
