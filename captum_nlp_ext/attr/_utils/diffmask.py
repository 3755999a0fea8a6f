"""The engine of DiffMask (De Cao, Schlichtkrull, Aziz and Titov, "How do
Decisions Emerge across Layers in Neural Models? Interpretation with
Differentiable Masking", EMNLP 2020): Hard Concrete gates (Louizos, Welling and
Kingma, ICLR 2018), the probe that predicts them from hidden states, the
encoder's layers of a Hugging Face model, and the hooks that read and gate them.

The face is :class:`~captum_nlp_ext.attr.DiffMask`.
"""

import math
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.messages import warn_caller

#: The Hard Concrete's temperature and stretch (the paper's: beta = 0.2,
#: (l, r) = (-0.2, 1.0)): gates are exactly 0 with some probability and
#: come near 1 (never past it) when open.
TEMPERATURE, LOW, HIGH = 0.2, -0.2, 1.0
# Points of the midpoint rule for a gate's expectation: its error is far below
# what the gates' differences on real texts are.
_QUADRATURE = 200


def hard_concrete_sample(
    logits: Tensor, generator: Optional[torch.Generator] = None
) -> Tensor:
    """A reparameterized Hard Concrete sample in [0, 1] for each logit."""
    uniform = torch.rand(
        logits.shape, generator=generator, device=logits.device, dtype=logits.dtype
    ).clamp(1e-6, 1 - 1e-6)
    concrete = torch.sigmoid((torch.logit(uniform) + logits) / TEMPERATURE)
    return (concrete * (HIGH - LOW) + LOW).clamp(0.0, 1.0)


def log_expected_l0(logits: Tensor) -> Tensor:
    """log P(gate != 0), the closed form of the expected L0 norm's terms:
    :math:`\\log\\sigma(\\log\\alpha - \\beta\\,\\mathrm{logit}(-l / (r - l)))`."""
    return F.logsigmoid(logits - TEMPERATURE * math.log(-LOW / HIGH))


def expected_gate(logits: Tensor) -> Tensor:
    """E[gate] of each logit, deterministic: the midpoint rule over
    :math:`E[z] = \\int_0^1 P(z > t)\\,dt`, where :math:`P(z > t) =
    \\sigma(\\log\\alpha - \\beta\\,\\mathrm{logit}((t - l)/(r - l)))`,
    in float64: open gates differ from 1 by as little as 1e-7, and those
    differences still rank the tokens (a gate rounded to 1 would tie)."""
    points = (torch.arange(_QUADRATURE, device=logits.device) + 0.5) / _QUADRATURE
    threshold = TEMPERATURE * torch.logit((points.double() - LOW) / (HIGH - LOW))
    expected = torch.sigmoid(logits.double().unsqueeze(-1) - threshold).mean(-1)
    return expected.to(logits.dtype)


class _Gate(Module):
    # One layer's gate: tanh(MLP) scaled to +-10 plus a bias that starts at 5
    # (the authors' gate): most gates start open. A zero output layer (every
    # gate open at the start) was tried on SST-2: it only delays the sparse
    # regime (benchmarks/diffmask/RESULTS.md).
    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(inputs, hidden)
        self.out = torch.nn.Linear(hidden, 1)
        self.bias = torch.nn.Parameter(torch.tensor(5.0))

    def forward(self, features: Tensor) -> Tensor:
        activation = torch.tanh(self.out(torch.tanh(self.hidden(features))))
        return activation.squeeze(-1) * 10.0 + self.bias


class GateProbe(Module):
    """Gate logits from hidden states: for input gates, one gate per layer
    ``k <= l`` reading ``[h_0; h_k]`` and the gate the product of theirs (the
    input is kept only if no layer up to ``l`` drops it); for the hidden
    states of layer ``l``, one gate reading ``h_l``."""

    def __init__(self, hidden_size: int, depth: int, gate: str) -> None:
        super().__init__()
        inputs = 2 * hidden_size if gate == "input" else hidden_size
        count = depth + 1 if gate == "input" else 1
        self.gate = gate
        self.gates = torch.nn.ModuleList(
            [_Gate(inputs, hidden_size) for _ in range(count)]
        )

    def forward(self, states: Sequence[Tensor]) -> Tensor:
        """(batch, tokens, gates) logits of ``states`` = [h_0, ..., h_l]."""
        if self.gate == "hidden":
            return self.gates[0](states[-1].float()).unsqueeze(-1)
        first = states[0].float()
        return torch.stack(
            [
                gate(torch.cat([first, states[k].float()], -1))
                for k, gate in enumerate(self.gates)
            ],
            -1,
        )


def encoder_layers(model: Module) -> List[Module]:
    """The transformer layers of a Hugging Face encoder, in order (BERT,
    RoBERTa, ELECTRA: ``encoder.layer``; DistilBERT: ``transformer.layer``;
    others with ``layers`` or ``h``)."""
    base = getattr(model, "base_model", model)
    for path in ("encoder.layer", "transformer.layer", "encoder.layers", "layers", "h"):
        owner: Any = base
        for part in path.split("."):
            owner = getattr(owner, part, None)
        if isinstance(owner, torch.nn.ModuleList) and len(owner) > 0:
            return list(owner)
    raise ValueError(
        f"cannot find the layers of {type(model).__name__}: pass `layers` (the "
        "transformer layers, in order) and `embeddings` (the embedding block)."
    )


def _hidden(output: Any) -> Tensor:
    hidden = output[0] if isinstance(output, (tuple, list)) else output
    if not isinstance(hidden, Tensor):
        raise TypeError(
            f"a layer returned {type(output).__name__}: DiffMask needs hidden "
            "states (a tensor, or a tuple whose first element is one)."
        )
    return hidden


@contextmanager
def recording(modules: Sequence[Module]) -> Iterator[List[Optional[Tensor]]]:
    """Record each module's hidden states during one forward pass."""
    states: List[Optional[Tensor]] = [None] * len(modules)

    def hook(index: int) -> Any:
        def record(module: Module, args: Any, output: Any) -> None:
            states[index] = _hidden(output)

        return record

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(modules)]
    try:
        yield states
    finally:
        for handle in handles:
            handle.remove()


def initial_baseline(
    embeddings: Module, positions: int, hidden: int, token: Optional[int]
) -> Tensor:
    """(positions, hidden): the embedding block's output for ``token`` at
    every position (the authors start their input placeholder at [MASK]'s),
    or zeros without a token or where the block cannot be called so."""
    if token is None:
        return torch.zeros(positions, hidden)
    parameter = next(embeddings.parameters(), None)
    device = parameter.device if parameter is not None else None
    ids = torch.full((1, positions), token, dtype=torch.long, device=device)
    try:
        with torch.no_grad():
            out = _hidden(embeddings(ids))
        if out.shape != (1, positions, hidden):
            raise ValueError(f"it returned shape {tuple(out.shape)}")
    except (TypeError, ValueError, RuntimeError, IndexError) as error:
        # A block that is not called with token ids alone: the baseline is
        # learned all the same, from a start that says nothing.
        warn_caller(
            f"DiffMask: the embedding block could not embed `baseline_token_id` "
            f"{token} at {positions} positions ({error}); the baseline starts at "
            "zeros."
        )
        return torch.zeros(positions, hidden)
    return out[0].detach().float().cpu()


@contextmanager
def gating(module: Module, gates: Tensor, baseline: Tensor) -> Iterator[None]:
    """Replace ``module``'s hidden states h by ``z h + (1 - z) b``; ``b`` is
    one vector, or one per position ((positions, hidden), cut to the
    input's)."""

    def hook(module: Module, args: Any, output: Any) -> Any:
        hidden = _hidden(output)
        z = gates.unsqueeze(-1).to(hidden.dtype)
        b = baseline[: hidden.shape[1]] if baseline.dim() == 2 else baseline
        gated = z * hidden + (1 - z) * b.to(hidden.dtype)
        if isinstance(output, tuple):
            return (gated,) + tuple(output[1:])
        if isinstance(output, list):
            return [gated] + list(output[1:])
        return gated

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
