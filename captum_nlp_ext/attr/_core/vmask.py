"""VMASK's word importances: the keep probabilities of a classifier trained with
a variational word mask (Chen and Ji, EMNLP 2020)."""

from typing import Any, Optional, Tuple, Union

import torch
from captum.attr import Attribution
from captum.log import log_usage
from torch import Tensor

from captum_nlp_ext._utils.checks import check_finite, check_model_call
from captum_nlp_ext._utils.hooks import eval_mode, run_forward
from captum_nlp_ext._utils.messages import warn_caller
from captum_nlp_ext._utils.models import attention_mask_of
from captum_nlp_ext._utils.targets import resolve_target, TargetType
from captum_nlp_ext._utils.units import unit_means
from captum_nlp_ext._utils.validation import (
    check_inputs,
    format_additional_forward_args,
    match_inputs_format,
)
from captum_nlp_ext.attr._core.vmask_classifier import FLAT, VMaskClassifier


class VMask(Attribution):
    r"""The word importances of a VMASK model (Chen and Ji, "Learning
    Variational Word Masks to Improve the Interpretability of Neural Text
    Classifiers", EMNLP 2020): each word's keep probability :math:`p(R_i = 1 |
    x_i)`, which the model learned, together with its classifier, under an
    information bottleneck.

    Not a post-hoc method: it explains only a
    :class:`~captum_nlp_ext.attr.VMaskClassifier`, the model trained with the
    mask, and costs one forward pass of the embedding layer. The probabilities
    are unsigned (how much of a word the classifier reads, not for which
    class) and do not depend on ``target``, which is validated all the same.
    """

    def __init__(self, forward_func: VMaskClassifier) -> None:
        r"""
        Args:
            forward_func (VMaskClassifier): The classifier trained with VMASK
                        (:meth:`VMaskClassifier.fit` or
                        :meth:`VMaskClassifier.load`).
        """
        if not isinstance(forward_func, VMaskClassifier):
            raise TypeError(
                "`forward_func` must be a VMaskClassifier (a classifier trained with "
                "a VMASK layer); a model without the layer has no keep "
                f"probabilities to read. Got {type(forward_func).__name__}."
            )
        super().__init__(forward_func)
        self.model = forward_func

    def has_convergence_delta(self) -> bool:
        return False

    @log_usage()
    def attribute(
        self,
        inputs: Union[Tensor, Tuple[Tensor]],
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Optional[Tensor] = None,
    ) -> Union[Tensor, Tuple[Tensor]]:
        r"""
        Args:
            inputs (Tensor or tuple[Tensor]): (batch, tokens) token ids; a
                        one-tensor tuple gives a tuple back.
            target (int, list[int], Tensor, optional): The class explained,
                        validated against the model's output as in every method;
                        the keep probabilities are the same for every class.
                        Default: None (the predicted class)
            additional_forward_args (Any, optional): Further positional
                        arguments of the model, the attention mask first.
                        Default: None
            feature_mask (Tensor, optional): (batch, tokens) unit ids, negative
                        = excluded (score 0); a unit's score is the mean keep
                        probability of its tokens. Default: None (the model's
                        own words: the pieces of a word share one probability;
                        special tokens and padding score 0)

        Returns:
            (batch, tokens) keep probabilities in [0, 1], a tuple when
            ``inputs`` is one.

        Examples::

            >>> vmask_model = VMaskClassifier(model, tokenizer)
            >>> vmask_model.fit(batches, epochs=2)
            >>> keep = VMask(vmask_model).attribute(
            ...     enc["input_ids"], additional_forward_args=(enc["attention_mask"],)
            ... )
        """
        given_inputs = inputs
        inputs = check_inputs(inputs)
        args = format_additional_forward_args(additional_forward_args, inputs)
        attention = attention_mask_of(self.forward_func, inputs, args)
        # Always in eval mode: the keep probabilities are the masks'
        # expectation, which is what the model uses at inference (no dropout
        # warning, then: training mode would only mean sampled masks).
        with eval_mode(self.model), torch.no_grad():
            check_model_call(self.forward_func, self.model.layer, inputs, "VMask")
            output = run_forward(self.forward_func, inputs, args)
            check_finite(output, "The model's output")
            resolve_target(target, output)
            keep, words = self.model.keep_probabilities(inputs, attention)
            _warn_if_flat(keep, words)
            if feature_mask is not None:
                keep = unit_means(keep, feature_mask)
        return match_inputs_format(given_inputs, keep)


def _warn_if_flat(keep: Tensor, words: Any) -> None:
    """Keep probabilities that all lie within ``FLAT`` of one another rank no
    word: say so (an untrained mask, or one trained at too small a rate)."""
    valid = words.included
    if int(valid.sum()) < 2:
        return
    values = keep[valid]
    if float(values.max() - values.min()) < FLAT:
        warn_caller(
            f"VMASK's keep probabilities are flat (all within {FLAT} of "
            f"{float(values.mean()):.3f}): they rank no word. Was the mask trained "
            "(VMaskClassifier.fit), at a learning rate that suits the classifier?"
        )
