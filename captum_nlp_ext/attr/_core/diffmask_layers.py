"""Where decisions emerge: DiffMask probes fitted for every layer, and the
paper's figure of what each layer lets the model drop (De Cao et al., EMNLP
2020, Figures 4-6)."""

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.deprecation import keyword_only_after, renamed_arguments
from captum_nlp_ext._utils.validation import check_choice
from captum_nlp_ext.attr._core.diffmask import DiffMask, GATES
from captum_nlp_ext.attr._utils.diffmask import encoder_layers


@dataclass(frozen=True)
class DiffMaskLayers:
    """Expected gates of probes fitted at each layer.

    Attributes:
        gate (str): ``"input"`` or ``"hidden"``.
        layers (list of int): The layers l of the probes, in order.
        gates (Tensor): (layers, batch, tokens) expected gates of the explained
                    inputs, 0 on padding.
        attention_mask (Tensor): (batch, tokens).
        probes (list of DiffMask): The fitted probes, one per layer.
    """

    gate: str
    layers: List[int]
    gates: Tensor
    attention_mask: Tensor
    probes: List[DiffMask]

    @property
    def kept(self) -> Tensor:
        """(layers,) the share of tokens kept (mean expected gate over the
        attended tokens) at each layer."""
        mask = self.attention_mask.unsqueeze(0).to(self.gates.dtype)
        return (self.gates * mask).sum((1, 2)) / mask.sum((1, 2)).clamp_min(1)

    def plot(self, example: int = 0, tokens: Optional[Sequence[str]] = None) -> Any:
        """The paper's figure: the share of tokens kept per layer, and the
        gates of one example across layers (a heat map, tokens by layers).

        Args:
            example (int): The example shown in the heat map. Default: 0
            tokens (sequence of str, optional): Its tokens, for the axis.
                        Default: None (positions)

        Returns:
            The matplotlib ``Figure``.
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        if not 0 <= example < self.gates.shape[1]:
            raise ValueError(
                f"`example` must lie in [0, {self.gates.shape[1] - 1}]; got {example}."
            )
        length = int(self.attention_mask[example].sum())
        grid = self.gates[:, example, :length].T.cpu().numpy()
        labels = [str(t) for t in (tokens if tokens is not None else range(length))]
        figure, (share, heat) = plt.subplots(
            1, 2, figsize=(10, 0.3 * length + 2), gridspec_kw={"width_ratios": [1, 2]}
        )
        share.plot(self.layers, self.kept.cpu().numpy(), marker="o")
        share.set_xlabel("layer l")
        share.set_ylabel("share of tokens kept")
        share.set_ylim(0, 1.05)
        share.set_title(f"{self.gate} gates")
        image = heat.imshow(grid, aspect="auto", cmap="Blues", vmin=0, vmax=1)
        heat.set_xticks(range(len(self.layers)), [str(layer) for layer in self.layers])
        heat.set_yticks(range(length), labels[:length])
        heat.set_xlabel("layer l")
        heat.set_title(f"expected gates of example {example}")
        figure.colorbar(image, ax=heat)
        figure.tight_layout()
        return figure


@renamed_arguments(layers="layer_indices")
@keyword_only_after(4)
def diffmask_across_layers(
    model: Module,
    batches: Any,
    inputs: Tensor,
    attention_mask: Optional[Tensor] = None,
    *,
    gate: str = "input",
    layer_indices: Optional[Sequence[int]] = None,
    show_progress: bool = False,
    seed: int = 0,
    **fit_kwargs: Any,
) -> DiffMaskLayers:
    """Fit a DiffMask probe at each layer and read its gates on ``inputs``:
    for input gates, what the model knows at layer l decides which inputs it
    may drop; for hidden gates, which states of layer l it still needs.

    Args:
        model (Module): The classifier (a Hugging Face encoder).
        batches (iterable of dict): The probes' training batches (see
                    :meth:`DiffMask.fit`).
        inputs (Tensor): (batch, tokens) token ids to explain.
        attention_mask (Tensor, optional): Their attention mask.
                    Default: None (every token)
        gate (str): ``"input"`` or ``"hidden"``. Default: "input"
        layer_indices (sequence of int, optional): The layers l. Default: None (every
                    layer: 0..L for input gates, 1..L for hidden ones)
        show_progress (bool): Progress bars while fitting. Default: False
        seed (int): Seed of each probe and its fit. Default: 0
        **fit_kwargs (Any): Further arguments of :meth:`DiffMask.fit`.

    Returns:
        A :class:`DiffMaskLayers` (``kept`` per layer; ``plot()``).
    """
    check_choice("gate", gate, GATES)
    total = len(encoder_layers(model))
    first = 0 if gate == "input" else 1
    chosen = (
        list(range(first, total + 1)) if layer_indices is None else list(layer_indices)
    )
    if attention_mask is None:
        attention_mask = torch.ones_like(inputs)
    probes, gates = [], []
    for layer in chosen:
        probe = DiffMask(model, gate=gate, layer_index=layer, seed=seed)
        probe.fit(batches, show_progress=show_progress, seed=seed, **fit_kwargs)
        probes.append(probe)
        gates.append(probe.attribute(inputs, additional_forward_args=(attention_mask,)))
    return DiffMaskLayers(gate, chosen, torch.stack(gates), attention_mask, probes)
