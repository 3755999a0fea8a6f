"""NoiseTunnel with the noise added at the embedding layer (captum #1281)."""

from typing import Any, Optional, Tuple, Union

import torch
from captum.attr import Attribution, NoiseTunnel
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.hooks import replacing_layer_output


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

    Noise is drawn from torch's global generator: call ``torch.manual_seed`` for
    reproducible results, as with Captum's NoiseTunnel.
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
                    noise = self._stdev * torch.randn_like(output)
            return output + noise

        with replacing_layer_output(self.layer, add_noise):
            return super()._compute_partial_attribution(
                inputs_with_noise_partition,
                kwargs_partition,
                is_inputs_tuple,
                return_convergence_delta,
            )
