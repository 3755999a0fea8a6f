"""NoiseTunnel with the noise added at the embedding layer (captum #1281)."""

import inspect
from typing import Any, Optional, Tuple, Union

import torch
from captum.attr import Attribution, NoiseTunnel
from captum.log import log_usage
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.checks import NonFiniteError
from captum_nlp_ext._utils.deprecation import keyword_only_after
from captum_nlp_ext._utils.hooks import replacing_layer_output
from captum_nlp_ext._utils.random import example_generator
from captum_nlp_ext._utils.validation import (
    check_int,
    check_optional_int,
    format_additional_forward_args,
)


class EmbeddingNoiseTunnel(NoiseTunnel):
    r"""SmoothGrad, SmoothGrad-squared and VarGrad (Smilkov et al., 2017; Adebayo
    et al., 2018) for text: the Gaussian noise is added to the output of the
    attribution method's layer instead of to ``inputs``.

    Captum's :class:`~captum.attr.NoiseTunnel` adds noise to ``inputs``, which
    turns token ids into meaningless floats (captum #1281, #771). This subclass
    keeps the ids intact: each of the ``nt_samples`` copies of an example runs
    with its own noise tensor added to the layer output (the same tensor in every
    forward pass of that copy, so a method's unperturbed and perturbed passes see
    one noisy input). Everything else, the expansion of ``target``,
    ``additional_forward_args``, ``baselines`` and ``feature_mask`` and the
    smoothing, is Captum's.

    It wraps any layer attribution method: ours (``LayerNLGP``...) and Captum's
    (``LayerIntegratedGradients``, ``LayerGradientXActivation``...). A forward
    pass whose layer output does not have the noisy batch's shape (a method's
    internal batches of perturbed copies, whose layer outputs the method replaces
    anyway) is left untouched. For a method with baselines, the baselines' layer
    output receives the same noise, so the path is shifted, not distorted.

    ``attribute`` takes Captum's arguments plus ``seed``: with a seed the noise
    comes from a generator of its own, so two identical calls give identical
    attributions (and torch's global generator is left alone); without one it
    is drawn from torch's global generator, as in Captum's NoiseTunnel.
    """

    def __init__(self, attribution_method: Attribution) -> None:
        r"""
        Args:
            attribution_method (Attribution): A layer attribution method, i.e. one
                        with a ``layer`` attribute holding a single module (for
                        example ``LayerNLGP`` or ``LayerIntegratedGradients``).
        """
        layer = getattr(attribution_method, "layer", None)
        if not isinstance(layer, Module):
            raise TypeError(
                "`attribution_method` must be a layer attribution method with a "
                "single `layer` module (e.g. LayerIntegratedGradients, LayerNLGP); "
                f"got {type(attribution_method).__name__}."
            )
        super().__init__(attribution_method)
        self.layer = layer
        self._stdev = 1.0
        self._seed: Optional[int] = None
        self._copy_offset = 0
        self._examples = 1

    @log_usage()
    @keyword_only_after(7)
    def attribute(  # type: ignore[override]
        self,
        inputs: Union[Tensor, Tuple[Tensor, ...]],
        nt_type: str = "smoothgrad",
        nt_samples: int = 5,
        nt_samples_batch_size: Optional[int] = None,
        stdevs: Union[float, Tuple[float, ...]] = 1.0,
        draw_baseline_from_distrib: bool = False,
        *,
        seed: Optional[int] = None,
        **kwargs: Any,
    ) -> Union[Tensor, Tuple[Tensor, ...], Tuple[Any, Tensor]]:
        r"""Captum's :meth:`NoiseTunnel.attribute <captum.attr.NoiseTunnel.attribute>`
        with the noise on the layer's output, and a seed.

        Args:
            inputs (Tensor or tuple[Tensor]): The wrapped method's inputs (token
                        ids stay token ids).
            nt_type (str): ``"smoothgrad"``, ``"smoothgrad_sq"`` or
                        ``"vargrad"``. Default: "smoothgrad"
            nt_samples (int): Noisy copies of each example, >= 1. Default: 5
            nt_samples_batch_size (int, optional): Copies per call of the
                        wrapped method. Default: None (all)
            stdevs (float): Standard deviation of the Gaussian noise added to
                        the layer's output. Default: 1.0
            draw_baseline_from_distrib (bool): As in Captum. Default: False
            seed (int, optional): Seed of the noise; the same call with the
                        same seed gives the same attributions. A wrapped method
                        that takes ``seed`` (ours) gets it too.
                        Default: None (torch's global generator)
            **kwargs (Any): Arguments of the wrapped method's ``attribute``.

        Returns:
            What Captum's NoiseTunnel returns: the smoothed attributions (and
            the convergence delta when the wrapped method returns one).
        """
        check_int("nt_samples", nt_samples, 1)
        check_optional_int("nt_samples_batch_size", nt_samples_batch_size, 1)
        if seed is not None:
            check_int("seed", seed, 0)
        if seed is not None and _takes_seed(self.attribution_method):
            kwargs["seed"] = seed  # the wrapped method's own draws, too
        self._seed, self._copy_offset = seed, 0
        first = inputs[0] if isinstance(inputs, tuple) else inputs
        # Checked here, at the user's batch, not at the copies' batch.
        if isinstance(first, Tensor) and first.dim() >= 2:
            format_additional_forward_args(kwargs.get("additional_forward_args"), first)
        self._examples = int(first.shape[0])
        try:
            return NoiseTunnel.attribute.__wrapped__(  # type: ignore[attr-defined]
                self,
                inputs,
                nt_type=nt_type,
                nt_samples=nt_samples,
                nt_samples_batch_size=nt_samples_batch_size,
                stdevs=stdevs,
                draw_baseline_from_distrib=draw_baseline_from_distrib,
                **kwargs,
            )
        finally:
            self._seed, self._copy_offset = None, 0

    def _draw_noise(self, like: Tensor) -> Tensor:
        """Noise for one partition of noisy copies. With a seed, copy ``j`` of
        every example draws from a generator seeded ``seed + 1 + j``: an
        example gets the same noise alone or in any batch (its copies are
        consecutive rows, Captum's ``repeat_interleave`` order)."""
        if self._seed is None:
            return torch.randn_like(like)
        copies = max(1, like.shape[0] // max(1, self._examples))
        noise = torch.stack(
            [
                torch.randn(
                    like.shape[1:],
                    generator=example_generator(
                        self._seed + 1 + self._copy_offset + row % copies, like.device
                    ),
                    device=like.device,
                    dtype=like.dtype,
                )
                for row in range(like.shape[0])
            ]
        )
        return noise

    def _add_noise_to_inputs(
        self,
        nt_samples_partition: int,
        inputs: Tuple[Tensor, ...],
        stdevs: Union[float, Tuple[float, ...]],
    ) -> Tuple[Tensor, ...]:
        # The inputs are only repeated; the noise goes to the layer in
        # _compute_partial_attribution.
        if isinstance(stdevs, tuple):
            if len(stdevs) != 1:
                raise ValueError(
                    "`stdevs` must be one float: the noise is added to one layer; "
                    f"got {len(stdevs)} values."
                )
            stdevs = stdevs[0]
        if isinstance(stdevs, bool) or not isinstance(stdevs, (int, float)):
            raise TypeError(f"`stdevs` must be a float; got {type(stdevs).__name__}.")
        if stdevs < 0:
            raise ValueError(f"`stdevs` must be >= 0; got {stdevs}.")
        self._stdev = float(stdevs)
        return tuple(
            inp.repeat_interleave(nt_samples_partition, dim=0) for inp in inputs
        )

    def _compute_partial_attribution(
        self,
        inputs_with_noise_partition: Tuple[Tensor, ...],
        kwargs_partition: Any,
        is_inputs_tuple: bool,
        return_convergence_delta: bool,
    ) -> Tuple[Tuple[Tensor, ...], bool, Optional[Tensor]]:
        batch = inputs_with_noise_partition[0].shape[0]
        noise: Optional[Tensor] = None

        def add_noise(output: Tensor) -> Tensor:
            nonlocal noise
            if output.shape[0] != batch:
                return output
            if noise is None or noise.shape != output.shape:
                with torch.no_grad():
                    noise = self._stdev * self._draw_noise(output)
            return output + noise

        try:
            with replacing_layer_output(self.layer, add_noise):
                result = super()._compute_partial_attribution(
                    inputs_with_noise_partition,
                    kwargs_partition,
                    is_inputs_tuple,
                    return_convergence_delta,
                )
            self._copy_offset += max(1, batch // max(1, self._examples))
            return result
        except NonFiniteError as error:
            # The wrapped method saw noisy copies; name the examples instead.
            copies = max(1, batch // max(1, self._examples))
            examples = sorted({row // copies for row in error.examples})
            raise NonFiniteError(
                f"A noisy copy of example(s) {examples} (positions in the batch) "
                f"made the model's output NaN or infinite: {error}",
                examples,
            ) from error


def _takes_seed(method: Attribution) -> bool:
    attribute = getattr(method.attribute, "__wrapped__", method.attribute)
    return "seed" in inspect.signature(attribute).parameters
