"""NLGP: Normalized Linear Gaussian Perturbations of a model's embedding layer."""

from typing import Any, Callable, List, Literal, Optional, overload, Tuple, Union

import torch
from captum.attr import LayerAttribution, PerturbationAttribution
from captum.log import log_usage
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.baselines import read_baselines
from captum_nlp_ext._utils.batching import evaluate_rows
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
    forward_with_layer_output,
    layer_output_only,
    model_of,
)
from captum_nlp_ext._utils.messages import warn_caller
from captum_nlp_ext._utils.random import batch_seeds, SeedLike
from captum_nlp_ext._utils.regression import ridge_fit
from captum_nlp_ext._utils.targets import resolve_target, TargetType
from captum_nlp_ext._utils.tokens import token_id
from captum_nlp_ext._utils.types import InputsT
from captum_nlp_ext._utils.units import build_units
from captum_nlp_ext._utils.validation import (
    check_choice,
    check_float,
    check_inputs,
    check_int,
    check_optional_int,
    format_additional_forward_args,
    match_inputs_format,
)
from captum_nlp_ext.attr._utils.nlgp import (
    Design,
    NOISY_FIT,
    PERTURBATIONS,
    sample_counts,
    warn_underdetermined,
)

# ``target`` of _attribute_outputs: fit every output column.
_EVERY_OUTPUT: Any = object()

# The reading of NLGP moved to the constructor; until 0.3 ``attribute`` still
# takes it (for that call only), by name or at its old position.
_MOVED = ("perturbation", "p_perturb", "ridge", "kernel_width")
_POSITIONAL_ORDER = (
    "n_samples",
    "stdevs",
    "perturbation",
    "p_perturb",
    "ridge",
    "baselines",
    "kernel_width",
    "internal_batch_size",
    "show_progress",
    "seed",
    "samples_per_unit",
    "return_convergence_delta",
)


class LayerNLGP(LayerAttribution, PerturbationAttribution):
    r"""Normalized Linear Gaussian Perturbations (NLGP), the saliency estimator of
    MASE (Yang, Luo, Zhu and Jin, "MASE: Interpretable NLP Models via
    Model-Agnostic Saliency Estimation", arXiv 2512.04386, 2025).

    NLGP explains a prediction with forward passes alone: it perturbs the output
    of an embedding layer with Gaussian noise that is normalized by each token's
    own embedding, evaluates the model on the perturbed copies, and fits a local
    linear model (a batched closed-form ridge regression) of the target score on
    the perturbation sizes. The coefficient of a unit (token or word) is its
    attribution.

    The paper's code is not public and only its summary could be read, so the
    perturbation is *our reading* of "normalized linear Gaussian" (selectable
    with ``perturbation``; a perturbation along a fresh random direction
    regressed on its magnitude alone has expected coefficient zero, so every
    reading regresses on a quantity that carries the direction):

    - ``"reference"`` (default): :math:`e'_t = e_t + a_u (r_t - e_t)`,
      :math:`a_u \sim N(0, \sigma^2)` shared by the tokens of unit :math:`u`:
      a move toward a reference embedding (by default the padding token's, as
      the benchmark's removal metrics erase words; or zero, or any token's); the
      attribution is the negated coefficient, the estimated drop of the score
      when the unit moves to the reference (Integrated Gradients' straight path,
      locally for small :math:`\sigma`).
    - ``"scale"``: :math:`e'_t = (1 + a_u) e_t`. For small :math:`\sigma` the
      coefficient tends to :math:`\sum_{t \in u} \nabla_{e_t} y \cdot e_t`, a
      forward-only gradient times input; larger :math:`\sigma` captures
      non-linear effects.
    - ``"isotropic"``: :math:`\delta_t = \sigma \lVert e_t \rVert z_t / \sqrt{d}`,
      :math:`z_t \sim N(0, I_d)`; regress on
      :math:`q_t = \delta_t \cdot e_t / \lVert e_t \rVert^2` per token and sum
      the coefficients of a unit's tokens. Unbiased, higher variance.

    The default reading was chosen on SST-2 dev and the planted tasks of
    :mod:`captum_nlp_ext.testing` (``benchmarks/nlgp/RESULTS.md``, "Which
    reading is the default"): toward [PAD] with :math:`\sigma = 0.5` removes
    words as the removal metrics do, and beat the earlier default (``"scale"``)
    on comprehensiveness, Delta Accuracy and deletion AUC with paired intervals
    clear of zero while still ranking the planted keyword first; :math:`\sigma
    = 1` was better still on SST-2 but missed the planted keyword in almost half
    of the sentences.

    The sparse variant of MASE is ``p_perturb < 1``: each sample perturbs each
    unit with probability ``p_perturb`` only, which keeps the perturbed inputs
    closer to the data on long texts.

    Units are tokens, or groups of tokens given by ``feature_mask`` (Captum's
    convention; negative ids exclude a token: it is never perturbed and gets 0).
    Each token of a unit receives the unit's score.

    Cost: ``n_samples + 1`` forward passes per example (with
    ``samples_per_unit``, its own count + 1), in internal batches that span
    examples; no gradients.
    """

    #: The values of ``perturbation``.
    PERTURBATIONS = PERTURBATIONS
    #: The convergence estimate (``return_convergence_delta``) at and above
    #: which a fit is too noisy to rank its units.
    NOISY_FIT = NOISY_FIT

    @keyword_only_after(3, order=("device_ids", "pad_token_id"))
    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: Module,
        *,
        perturbation: str = "reference",
        p_perturb: float = 1.0,
        ridge: float = 1e-3,
        kernel_width: Optional[float] = None,
        pad_token_id: Optional[int] = None,
        device_ids: Union[None, List[int]] = None,
    ) -> None:
        r"""
        Args:
            forward_func (Callable): The model's forward function. It takes
                        ``inputs`` and then ``additional_forward_args`` and returns
                        (batch, classes) scores or (batch,) scores, or a Hugging
                        Face ``ModelOutput`` with ``logits``.
            layer (torch.nn.Module): The embedding layer whose output is
                        perturbed; its output must be (batch, tokens, hidden).
                        See :func:`captum_nlp_ext.huggingface.get_embedding_layer`.
            perturbation (str): ``"scale"``, ``"reference"`` or
                        ``"isotropic"`` (see the class docstring).
                        Default: "reference"
            p_perturb (float): Probability that a sample perturbs a given unit;
                        below 1 this is MASE's sparse variant.
                        Default: 1.0
            ridge (float): L2 penalty of the fit, relative to the mean diagonal
                        of the design's Gram matrix (0 = least squares).
                        Default: 1e-3
            kernel_width (float, optional): LIME-style sample weights
                        :math:`\exp(-\lVert a\rVert^2 / (U \sigma^2 w^2))`, with
                        :math:`U` the number of units; None weighs every sample
                        equally.
                        Default: None
            pad_token_id (int, optional): The padding token id, whose layer
                        output is the default reference.
                        Default: None (the model's ``pad_token_id``, e.g.
                        a ``WindowedClassifier``'s, else its
                        ``config.pad_token_id``)
            device_ids (list[int], optional): Device IDs for a DataParallel
                        model, as in Captum's layer methods.
                        Default: None
        """
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        PerturbationAttribution.__init__(self, forward_func)
        if pad_token_id is not None:
            check_int("pad_token_id", pad_token_id, 0)
        self.pad_token_id = pad_token_id
        self.perturbation = perturbation
        self.p_perturb = p_perturb
        self.ridge = ridge
        self.kernel_width = kernel_width
        self._check_reading()

    def _check_reading(self) -> None:
        # Also for a deprecated per-call value (moved_to_constructor).
        check_choice("perturbation", self.perturbation, PERTURBATIONS)
        check_float("p_perturb", self.p_perturb, 0.0, 1.0)
        check_float("ridge", self.ridge, 0.0, low_inclusive=True)
        if self.kernel_width is not None:
            check_float("kernel_width", self.kernel_width, 0.0)

    @property
    def multiplies_by_inputs(self) -> bool:
        return True

    def has_convergence_delta(self) -> bool:
        return True

    # The overloads tell type checkers what comes back, as Captum's
    # layer_integrated_gradients.py does: the delta only when asked for.
    @overload
    def attribute(
        self,
        inputs: InputsT,
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Optional[Tensor] = None,
        *,
        n_samples: int = 256,
        stdevs: float = 0.5,
        baselines: Union[None, int, Tensor] = None,
        internal_batch_size: Optional[int] = None,
        show_progress: bool = False,
        seed: SeedLike = None,
        samples_per_unit: Optional[float] = None,
        return_convergence_delta: Literal[True],
    ) -> Tuple[InputsT, Tensor]: ...

    @overload
    def attribute(
        self,
        inputs: InputsT,
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Optional[Tensor] = None,
        *,
        n_samples: int = 256,
        stdevs: float = 0.5,
        baselines: Union[None, int, Tensor] = None,
        internal_batch_size: Optional[int] = None,
        show_progress: bool = False,
        seed: SeedLike = None,
        samples_per_unit: Optional[float] = None,
        return_convergence_delta: Literal[False] = False,
    ) -> InputsT: ...

    @log_usage()
    @renamed_arguments(reference="baselines", sigma="stdevs")
    @keyword_only_after(5, order=_POSITIONAL_ORDER)
    @moved_to_constructor(*_MOVED, check="_check_reading")
    def attribute(
        self,
        inputs: Union[Tensor, Tuple[Tensor]],
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Optional[Tensor] = None,
        *,
        n_samples: int = 256,
        stdevs: float = 0.5,
        baselines: Union[None, int, Tensor] = None,
        internal_batch_size: Optional[int] = None,
        show_progress: bool = False,
        seed: SeedLike = None,
        samples_per_unit: Optional[float] = None,
        return_convergence_delta: bool = False,
    ) -> Union[Tensor, Tuple[Tensor], Tuple[Any, Tensor]]:
        r"""
        Args:
            inputs (Tensor or tuple[Tensor]): Token ids (batch, tokens), or
                        embeddings (batch, tokens, hidden) for a ``forward_func``
                        that takes them; a one-tensor tuple gives a tuple back.
                        Examples of different lengths are padded; exclude the
                        padding with ``feature_mask``.
            target (int, list[int], Tensor, optional): Class to explain for each
                        example. None explains the predicted class (or the single
                        score of a (batch,) output).
                        Default: None
            additional_forward_args (Any, optional): Further positional
                        arguments of ``forward_func`` (an attention mask, for
                        instance); tensors with the batch as first dimension are
                        expanded with the perturbed copies.
                        Default: None
            feature_mask (Tensor, optional): (batch, tokens) or (1, tokens)
                        integer unit ids; tokens that share an id share one
                        coefficient; negative ids are excluded (score 0). Build
                        one with
                        :func:`captum_nlp_ext.huggingface.word_feature_mask`.
                        Default: None (every token is a unit)
            n_samples (int): Perturbed copies per example, >= 2.
                        Default: 256
            stdevs (float): Standard deviation :math:`\sigma` of the perturbation
                        (the package's name for a noise size; ``sigma`` is its
                        deprecated name), relative to
                        each token's embedding (``"reference"``: of the move
                        to the reference).
                        Default: 0.5
            baselines (int or Tensor, optional): For
                        ``perturbation="reference"`` only: a token id whose layer
                        output is the reference at every position, a
                        (batch or 1, tokens) LongTensor of reference token ids
                        (both for token-id inputs only; read as MaRC reads
                        them), or a layer output of shape
                        (batch or 1, tokens, hidden).
                        Default: None (the padding token: ``pad_token_id``, else
                        the model's, as for ``pad_token_id``; the zero vector,
                        with a warning, where there is none or ``inputs`` are
                        embeddings)
            internal_batch_size (int, optional): Perturbed copies per forward
                        pass (copies of several examples share a pass).
                        Default: None (64)
            show_progress (bool): Show a progress bar over forward passes.
                        Default: False
            seed (int or sequence of int, optional): Seed of the
                        perturbations: one int for every example, or one per
                        example (e.g. from
                        :func:`~captum_nlp_ext._utils.random.example_seed`). With
                        a seed, an example gets the same attributions alone or in
                        any batch.
                        Default: None (torch's global generator)
            samples_per_unit (float, optional): A budget that fits the text:
                        example :math:`i` with :math:`U_i` units draws
                        :math:`\max(n, \lceil r U_i \rceil)` samples, with
                        :math:`n` = ``n_samples`` and :math:`r` this value. The
                        fit estimates one coefficient a unit, so its noise
                        grows with :math:`U_i / n`: a budget that ranks a
                        sentence's words is noise on a review's. Each
                        example's count depends on its own units only (the
                        same alone or in any batch).
                        Default: None (``n_samples`` for every example)
            return_convergence_delta (bool): Also return a convergence estimate
                        per example: the disagreement of two fits on the even and
                        odd samples, :math:`\lVert\beta_1-\beta_2\rVert /
                        (\lVert\beta_1\rVert+\lVert\beta_2\rVert)`, in [0, 1];
                        it shrinks as ``n_samples`` grows.
                        Default: False

        Returns:
            **attributions** or 2-element tuple of **attributions**, **delta**:
            - **attributions** (*Tensor*): (batch, tokens); each token carries its
              unit's coefficient, excluded tokens 0.
            - **delta** (*Tensor*, returned if return_convergence_delta=True):
              (batch,) convergence estimates.

        Examples::

            >>> forward = ClassifierForward(model)
            >>> nlgp = LayerNLGP(forward, get_embedding_layer(model))
            >>> enc = tokenizer(texts, padding=True, return_tensors="pt")
            >>> attributions = nlgp.attribute(
            ...     enc["input_ids"],
            ...     additional_forward_args=(enc["attention_mask"],),
            ...     feature_mask=word_feature_mask(enc),
            ...     seed=0,
            ... )
        """
        given_inputs = inputs
        inputs = check_inputs(inputs)
        args = format_additional_forward_args(additional_forward_args, inputs)
        check_int("n_samples", n_samples, 2)
        check_float("stdevs", stdevs, 0.0)
        perturbation, ridge = self.perturbation, self.ridge
        check_optional_int("internal_batch_size", internal_batch_size, 1)
        if samples_per_unit is not None:
            check_float("samples_per_unit", samples_per_unit, 0.0)
        if baselines is not None and perturbation != "reference":
            raise ValueError(
                "`baselines` is used by perturbation='reference' only; got "
                f"perturbation={perturbation!r}."
            )

        check_model_call(self.forward_func, self.layer, inputs, "LayerNLGP")
        with torch.no_grad():
            output, embeddings = forward_with_layer_output(
                self.forward_func, self.layer, inputs, args
            )
            check_finite(output, "The model's output")
            batch, tokens = inputs.shape[:2]
            check_layer_output(embeddings, inputs)
            every_output = target is _EVERY_OUTPUT
            target_ = None if every_output else resolve_target(target, output)
            units = build_units(feature_mask, batch, tokens, inputs.device)
            counts = sample_counts(units.count, n_samples, samples_per_unit)
            warn_underdetermined(units.count, counts)
            design = Design(
                embeddings,
                units,
                counts,
                stdevs,
                perturbation,
                self.p_perturb,
                batch_seeds(seed, batch),
            )
            if perturbation == "reference":
                design.direction = self._reference_direction(
                    baselines, inputs, args, embeddings
                )
            scores = design.scatter(
                evaluate_rows(
                    self.forward_func,
                    inputs,
                    args,
                    design.row_example,
                    target_,
                    internal_batch_size,
                    show_progress,
                    "NLGP",
                    layer=self.layer,
                    layer_rows=design.layer_rows,
                )
            )
            regressors, valid = design.regressors()
            weights = design.sample_weights(self.kernel_width)
            coefficients = ridge_fit(regressors, scores, weights, valid, ridge)
            if every_output:
                # (batch, outputs, units) -> (batch, outputs, tokens)
                per_output = [design.unit_scores(c) for c in coefficients.unbind(dim=1)]
                spread = units.to_tokens(torch.stack(per_output, dim=2))
                return spread.transpose(1, 2).to(embeddings.dtype)
            attributions = units.to_tokens(design.unit_scores(coefficients))
            check_finite(attributions, "The NLGP fit")
            attributions = match_inputs_format(
                given_inputs, attributions.to(embeddings.dtype)
            )
            if not return_convergence_delta:
                return attributions
            halves = [
                design.unit_scores(
                    ridge_fit(
                        regressors[:, start::2],
                        scores[:, start::2],
                        None if weights is None else weights[:, start::2],
                        valid,
                        ridge,
                    )
                )
                for start in (0, 1)
            ]
            delta = (halves[0] - halves[1]).norm(dim=1) / (
                halves[0].norm(dim=1) + halves[1].norm(dim=1)
            ).clamp_min(torch.finfo(scores.dtype).tiny)
            return attributions, delta.to(embeddings.dtype)

    def _attribute_outputs(
        self,
        inputs: Tensor,
        additional_forward_args: Any = None,
        feature_mask: Optional[Tensor] = None,
        **kwargs: Any,
    ) -> Tensor:
        """Attributions for every column of a (batch, outputs) model output at
        once: (batch, outputs, tokens), from one set of perturbed passes and
        one ridge solve with a column per output (the per-output-token matrix
        of :class:`~captum_nlp_ext.attr.CausalLMAttribution`). Takes
        ``attribute``'s keyword options but ``return_convergence_delta``."""
        return self.attribute(  # type: ignore[call-overload, no-any-return]
            inputs, _EVERY_OUTPUT, additional_forward_args, feature_mask, **kwargs
        )

    @staticmethod
    def _zero_reference(why: str, embeddings: Tensor) -> Tensor:
        warn_caller(
            f"LayerNLGP: no padding token to move toward ({why}); the reference "
            "is the zero vector. Pass `baselines` to choose it."
        )
        return -embeddings

    def _reference_direction(
        self,
        baselines: Union[None, int, Tensor],
        inputs: Tensor,
        args: Tuple,
        embeddings: Tensor,
    ) -> Tensor:
        """r - e for every token: where the reference reading moves embeddings."""
        if inputs.is_floating_point() and baselines is None:
            return self._zero_reference("`inputs` are embeddings", embeddings)
        baseline = read_baselines(baselines, inputs, embeddings.shape[-1])
        if baseline.layer is not None:
            return baseline.layer.to(embeddings) - embeddings
        if baseline.ids is not None:
            reference = baseline.ids.to(inputs).expand(inputs.shape[0], -1)
        else:
            token = baseline.token
            if token is None:
                token = token_id(
                    "pad_token_id", self.pad_token_id, model=model_of(self.forward_func)
                )
            if token is None:
                return self._zero_reference(
                    "give `pad_token_id`, or a model whose config has one", embeddings
                )
            reference = torch.full_like(inputs, token)
        reference_embeddings = layer_output_only(
            self.forward_func, self.layer, reference, args
        )
        return reference_embeddings - embeddings
