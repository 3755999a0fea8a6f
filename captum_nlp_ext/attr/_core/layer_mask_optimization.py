"""MaRC: rationales by optimizing a soft mask over a model's embedding layer."""

from dataclasses import fields
from typing import Any, Callable, List, Optional, Tuple, Union

import torch
from captum.attr import GradientAttribution, LayerAttribution
from captum.log import log_usage
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.baselines import reference_rows
from captum_nlp_ext._utils.checks import (
    check_finite,
    check_layer_output,
    check_model_call,
)
from captum_nlp_ext._utils.deprecation import (
    keyword_only_after,
    moved_to_constructor,
    renamed_arguments,
)
from captum_nlp_ext._utils.hooks import (
    autograd_enabled,
    forward_with_layer_output,
    frozen_parameters,
    model_of,
    outside_inference,
)
from captum_nlp_ext._utils.random import batch_seeds, SeedLike
from captum_nlp_ext._utils.targets import resolve_target, TargetType
from captum_nlp_ext._utils.tokens import token_id
from captum_nlp_ext._utils.units import build_units
from captum_nlp_ext._utils.validation import (
    check_float,
    check_inputs,
    check_int,
    check_optional_int,
    format_additional_forward_args,
    match_inputs_format,
)
from captum_nlp_ext._utils.windows import make_rows
from captum_nlp_ext.attr._utils.mask_optimization import (
    group_log_mean,
    log_probabilities,
    MaskOptimizer,
    row_lengths,
    Settings,
)
from captum_nlp_ext.attr._utils.mask_settings import MaskOptimizationSettings

# The knobs of the fit moved to the constructor (``settings``); until 0.3
# ``attribute`` still takes them (for that call only), by name or at their old
# position.
_SETTINGS = tuple(f.name for f in fields(MaskOptimizationSettings))
_POSITIONAL_ORDER = (
    "baselines",
    "sufficiency_weight",
    "comprehensiveness_weight",
    "compactness_weight",
    "width_weight",
    "prior_length",
    "initial_weight",
    "initial_width",
    "p_zero",
    "p_one",
    "stdevs",
    "lr",
    "max_steps",
    "check_every",
    "early_stopping",
    "stopping_rule",
    "classifier",
    "window_size",
    "window_overlap",
    "internal_batch_size",
    "show_progress",
    "seed",
)


class LayerMaskOptimization(LayerAttribution, GradientAttribution):
    r"""MaRC, rationale extraction by input-mask optimization (Brinner and
    Zarriess, "Model Interpretability and Rationale Extraction by Input Mask
    Optimization", Findings of ACL 2023; arXiv 2508.11388).

    A soft mask :math:`m_j \in (0, 1)` over the units (words) of an input mixes
    the output :math:`E(x)` of an embedding layer with a reference's
    :math:`E(u)`, and is optimized so that the kept part alone still predicts
    the target class while the removed part alone does not:

    .. math::
        e_m = m\,E(x) + (1 - m)\,E(u), \qquad e_c = (1 - m)\,E(x) + m\,E(u),

    .. math::
        L = -\lambda_s \log p_y(e_m) - \lambda_c \log(1 - p_y(e_c))
            + \lambda_m \bar m^2 + \lambda_w \,\mathrm{mean}_k(-\log s_k).

    The mask is a sum of Gaussian bumps in logit space, one per unit, with
    weight :math:`w_k` (initially 1.2) and width :math:`s_k` (initially 2.0):
    :math:`m_j = \sigma(\sum_k w_k \exp(-(j - k)^2 / s_k^2))`, where
    :math:`j, k` are unit ranks (word order for
    :func:`~captum_nlp_ext.huggingface.word_feature_mask`). Wide bumps spread a
    unit's weight to its neighbours, so the rationale forms contiguous spans;
    the width prior rewards them. Each step, every unit's mask value is forced
    to 0 with probability ``p_zero`` and to 1 with ``p_one``, and Gaussian
    noise of std ``stdevs`` is added to the mixed embeddings of included
    tokens. AdamW (torch's default weight decay) runs at most ``max_steps``
    steps; every ``check_every`` steps an example stops when the order of its
    words has settled: the Spearman correlation of its masks at two checks is
    at least 0.95, after at least 50 steps (``stopping_rule="ranking"``, ours;
    checks every 25 steps).
    The paper's rule (``stopping_rule="paper"``, checks every 50 steps) stops
    when the mean mask changed by less than 1/200 since the last check (1/80
    if the mean is below 0.2), and the step is at least 199 or the mean below
    0.3, and the mean is below 0.45; short texts whose every word matters
    never reach that mean and run all ``max_steps`` steps (on SST-2 the masks
    end at a mean of 0.6-0.9). On SST-2 dev our rule took 110 steps on
    average where the paper's took 289 of 300, and its masks scored better on
    comprehensiveness and sufficiency than those of 300 steps
    (``benchmarks/marc/RESULTS.md``). The attribution of a
    unit is its final soft mask value.

    The knobs named here are fields of :class:`MaskOptimizationSettings`, given
    to the constructor, except ``stdevs`` and ``max_steps``, arguments of
    :meth:`attribute` beside the seed (the noise and the budget of a call).

    The masks of all examples of a batch are optimized together: one optimizer
    over independent parameters, one forward and backward pass per step for
    all running examples, and per-example stopping (a stopped example's
    parameters stay as they were when it stopped and it leaves the batch).
    Each pass drops the padding columns (``pad_token_id``) past the longest
    running example, as a model that masks padding out (attention mask) gives
    the same outputs without them; with ``internal_batch_size`` the passes
    group examples of like length.

    Inputs longer than ``window_size`` tokens are cut into windows that
    overlap by at least ``window_overlap`` tokens (each window keeps the
    example's [CLS] and [SEP]); the class probabilities of an example are the
    mean over its windows, each window has its own mask parameters, stopping
    and regularizers, and the windows' masks are blended linearly where they
    overlap. The paper's windows are about 500 tokens first and 400 after;
    ours are equal, spread evenly over the document (our reading).

    The classifier is a softmax over ``forward_func``'s logits, or, for a
    single logit per example ((batch,) or (batch, 1) output), a sigmoid, with
    target 1 the positive class and 0 the negative one (``classifier``).

    Units are tokens, or groups of tokens given by ``feature_mask``; negative
    ids exclude a token (specials, padding): it keeps its own embedding in both
    mixed inputs, gets no noise and an attribution of 0. The model's
    parameters are never updated and keep their ``requires_grad`` flags;
    gradients are taken with respect to the mask parameters only.
    """

    @keyword_only_after(3, order=("pad_token_id", "device_ids"))
    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: Module,
        *,
        settings: Optional[MaskOptimizationSettings] = None,
        window_size: Optional[int] = None,
        window_overlap: int = 100,
        pad_token_id: Optional[int] = None,
        device_ids: Union[None, List[int]] = None,
    ) -> None:
        r"""
        Args:
            forward_func (Callable): The model's forward function. It takes
                        ``inputs`` and then ``additional_forward_args`` and returns
                        (batch, classes) logits, a (batch,) or (batch, 1) logit of
                        a sigmoid classifier, or a Hugging Face ``ModelOutput``
                        with ``logits``. Logits, not probabilities: the losses
                        are computed from them in log space (use
                        ``ClassifierForward(model)``, whose default output is
                        logits).
            layer (torch.nn.Module): The embedding layer whose output is masked;
                        its output must be (batch, tokens, hidden). The paper
                        masks the whole embedding block (for BERT
                        ``model.bert.embeddings``, see
                        :func:`captum_nlp_ext.huggingface.get_embedding_layer`
                        with ``kind="full"``).
            settings (MaskOptimizationSettings, optional): The loss, the mask's
                        parametrization, the optimizer and the stopping rule
                        (see :class:`MaskOptimizationSettings`).
                        Default: None (``MaskOptimizationSettings()``)
            window_size (int, optional): Most tokens the model takes (e.g. 512);
                        longer inputs are cut into overlapping windows (token-id
                        inputs only).
                        Default: None (inputs are never cut)
            window_overlap (int): Least number of tokens consecutive windows
                        share, >= 0.
                        Default: 100
            pad_token_id (int, optional): The padding token id, used by the
                        default reference and to cut long inputs into windows.
                        Default: None (the model's ``pad_token_id``, e.g.
                        a ``WindowedClassifier``'s, else its
                        ``config.pad_token_id``)
            device_ids (list[int], optional): Device IDs for a DataParallel
                        model, as in Captum's layer methods.
                        Default: None
        """
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        GradientAttribution.__init__(self, forward_func)
        if settings is None:
            settings = MaskOptimizationSettings()
        elif not isinstance(settings, MaskOptimizationSettings):
            raise TypeError(
                "`settings` must be a MaskOptimizationSettings; got "
                f"{type(settings).__name__}."
            )
        self.settings = settings
        self.window_size = window_size
        self.window_overlap = window_overlap
        self._check_windows()
        if pad_token_id is not None:
            check_int("pad_token_id", pad_token_id, 0)
        self.pad_token_id = pad_token_id

    def _check_windows(self) -> None:
        # Also for a deprecated per-call value (moved_to_constructor).
        check_optional_int("window_size", self.window_size, 3)
        check_int("window_overlap", self.window_overlap, 0)

    @property
    def multiplies_by_inputs(self) -> bool:
        return False

    def has_convergence_delta(self) -> bool:
        return False

    @log_usage()
    @renamed_arguments(reference="baselines", noise_std="stdevs")
    @keyword_only_after(5, order=_POSITIONAL_ORDER)
    @moved_to_constructor("window_size", "window_overlap", check="_check_windows")
    @moved_to_constructor(*_SETTINGS, into="settings")
    def attribute(
        self,
        inputs: Union[Tensor, Tuple[Tensor]],
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Optional[Tensor] = None,
        *,
        baselines: Union[None, int, Tensor] = None,
        stdevs: float = 0.03,
        max_steps: int = 900,
        internal_batch_size: Optional[int] = None,
        show_progress: bool = False,
        seed: SeedLike = None,
    ) -> Union[Tensor, Tuple[Tensor, ...]]:
        r"""
        Args:
            inputs (Tensor or tuple[Tensor]): Token ids (batch, tokens), or embeddings
                        (batch, tokens, hidden) for a ``forward_func`` that takes
                        them. Examples of different lengths are padded; exclude
                        the padding with ``feature_mask``.
            target (int, list[int], Tensor, optional): Class to explain for each
                        example (0 or 1 for a single-logit classifier). None
                        explains the predicted class.
                        Default: None
            additional_forward_args (Any, optional): Further positional
                        arguments of ``forward_func`` (an attention mask, for
                        instance); tensors with the batch as first dimension
                        follow their example, (batch, tokens) tensors are cut
                        into windows like the inputs.
                        Default: None
            feature_mask (Tensor, optional): (batch, tokens) or (1, tokens)
                        integer unit ids; tokens that share an id share one mask
                        value; negative ids are excluded (kept as they are,
                        score 0). Build one with
                        :func:`captum_nlp_ext.huggingface.word_feature_mask`.
                        Default: None (every token is a unit)
            baselines (int or Tensor, optional): What a masked unit becomes.
                        None: every included token replaced by the padding token
                        (with specials excluded, the paper's
                        [CLS] [PAD] ... [PAD] [SEP]); an int: that token id
                        instead of the padding one; a (batch or 1, tokens)
                        LongTensor: reference token ids; a float
                        (batch or 1, tokens, hidden) tensor: the layer output
                        of the reference itself. Token references go through
                        ``layer`` with the same ``additional_forward_args``.
                        Default: None
            stdevs (float): Std of the Gaussian noise added to the mixed
                        embeddings, >= 0.
                        Default: 0.03
            max_steps (int): Most optimization steps.
                        Default: 900
            internal_batch_size (int, optional): Rows per forward and
                        backward pass, as in every method (each window of an
                        example is two rows, its kept part and its complement;
                        a pass holds whole examples, at least one); gradients
                        of a step are accumulated over passes.
                        Default: None (64)
            show_progress (bool): Show a progress bar over steps.
                        Default: False
            seed (int or sequence of int, optional): Seed of the noise: one
                        int for every example, or one per example. With a
                        seed, an example gets the same attributions alone or in
                        any batch (up to
                        floating-point differences of the model's batched
                        arithmetic).
                        Default: None (torch's global generator)

        Returns:
            *Tensor* (or one-tensor *tuple*, for tuple inputs, as in Captum) of
            **attributions**: (batch, tokens); each token carries its unit's
            soft mask value in (0, 1), excluded tokens 0.

        Examples::

            >>> forward = ClassifierForward(model)
            >>> marc = LayerMaskOptimization(
            ...     forward, get_embedding_layer(model, kind="full")
            ... )
            >>> enc = tokenizer(texts, padding=True, return_tensors="pt")
            >>> attributions = marc.attribute(
            ...     enc["input_ids"],
            ...     additional_forward_args=(enc["attention_mask"],),
            ...     feature_mask=word_feature_mask(enc),
            ...     seed=0,
            ... )
            >>> rationale = top_percent_rationale(attributions, 10, mask)
        """
        given_inputs = inputs
        inputs = check_inputs(inputs)
        args = format_additional_forward_args(additional_forward_args, inputs)
        window_size, window_overlap = self.window_size, self.window_overlap
        settings = Settings(
            options=self.settings,
            stdevs=check_float("stdevs", stdevs, 0.0, low_inclusive=True),
            max_steps=check_int("max_steps", max_steps, 1),
            internal_batch_size=check_optional_int(
                "internal_batch_size", internal_batch_size, 1
            ),
            show_progress=show_progress,
            seeds=batch_seeds(seed, inputs.shape[0]),
        )

        check_model_call(
            self.forward_func,
            self.layer,
            inputs,
            "LayerMaskOptimization",
            length=None if window_size is None else min(window_size, inputs.shape[1]),
        )
        # Gradients are needed even when the caller is inside torch.no_grad()
        # or torch.inference_mode().
        with autograd_enabled():
            inputs, args = outside_inference(inputs), outside_inference(args)
            batch, tokens = inputs.shape[:2]
            device = inputs.device
            units = build_units(feature_mask, batch, tokens, device)
            pad_token_id = self._pad_token_id()
            needs_cut = window_size is not None and tokens > window_size
            rows = make_rows(
                inputs, units.included, window_size, window_overlap, pad_token_id
            )
            row_inputs = rows.cut(inputs, 0 if pad_token_id is None else pad_token_id)
            row_args = rows.cut_args(args, batch, tokens)
            row_units = build_units(
                rows.cut(units.index, -1), len(rows), row_inputs.shape[1], device
            )

            model = model_of(self.forward_func) or self.layer
            with frozen_parameters(model):
                with torch.no_grad():
                    output, embeddings = forward_with_layer_output(
                        self.forward_func, self.layer, row_inputs, row_args
                    )
                    check_layer_output(embeddings, row_inputs)
                    reference_embeddings = reference_rows(
                        self.forward_func,
                        self.layer,
                        baselines,
                        inputs,
                        rows,
                        row_inputs,
                        row_args,
                        row_units,
                        embeddings,
                        pad_token_id,
                        needs_cut,
                    )
                    check_finite(output, "The model's output", rows.example)
                    example_log_probs = group_log_mean(
                        log_probabilities(output.float(), self.settings.classifier),
                        rows.example,
                        batch,
                    )
                    target_ = resolve_target(target, example_log_probs)
                    assert target_ is not None
                masks = MaskOptimizer(
                    self.forward_func,
                    self.layer,
                    rows,
                    row_inputs,
                    row_args,
                    row_units,
                    embeddings,
                    reference_embeddings,
                    target_,
                    row_lengths(row_inputs, row_units, pad_token_id),
                    settings,
                ).run()
            token_values = rows.merge(row_units.to_tokens(masks), batch, tokens)
            attributions = units.to_tokens(units.pool(token_values, reduce="mean"))
            check_finite(attributions, "The optimized mask")
            return match_inputs_format(given_inputs, attributions.to(embeddings.dtype))

    def _pad_token_id(self) -> Optional[int]:
        return token_id(
            "pad_token_id", self.pad_token_id, model=model_of(self.forward_func)
        )
