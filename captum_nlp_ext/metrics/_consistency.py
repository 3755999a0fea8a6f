"""What the consistency diagnostics (Atanasova et al., 2020) measure on a
model: its layers' activations, recorded and pooled, and the distances between
the two inputs of a pair (activations, vocabulary)."""

from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Sequence

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.batching import index_additional_forward_args
from captum_nlp_ext._utils.hooks import model_of, run_forward
from captum_nlp_ext._utils.outputs import output_to_tensor
from captum_nlp_ext.metrics._modules import encoder_blocks


def model_of_argument(argument: str, forward_func: Callable[..., Any]) -> Module:
    model = model_of(forward_func)
    if model is None:
        raise TypeError(
            f"`{argument}` must be a torch module or wrap one (a bound method, or an "
            "object with a `model` attribute) so that its layers can be read."
        )
    return model


def layer_names(model: Module, layers: Optional[Sequence[str]]) -> List[str]:
    if layers is None:
        prefix, blocks = encoder_blocks(model)
        return [f"{prefix}.{i}" if prefix else str(i) for i in range(len(blocks))] + [
            ""
        ]
    if isinstance(layers, str) or not len(layers):
        raise TypeError("`layers` must be a non-empty list of module names.")
    return list(layers)


@contextmanager
def recording(model: Module, names: Sequence[str]) -> Iterator[List[Any]]:
    """Record the outputs of the named modules ("" is the model's own output)
    during one forward pass; every hook removed on exit."""
    outputs: List[Any] = [None] * len(names)
    handles = []
    try:
        for slot, name in enumerate(names):
            try:
                module = model.get_submodule(name)
            except AttributeError:
                raise ValueError(
                    f"`layers` names {name!r}, which is not a module of "
                    f"{type(model).__name__}."
                ) from None

            def hook(module: Module, args: Any, output: Any, slot: int = slot) -> None:
                outputs[slot] = output_to_tensor(output).detach()

            handles.append(module.register_forward_hook(hook))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def activations(
    forward_func: Callable[..., Any],
    model: Module,
    names: Sequence[str],
    inputs: Tensor,
    args: tuple,
    rows: Tensor,
) -> List[Tensor]:
    with recording(model, names) as outputs, torch.no_grad():
        run_forward(
            forward_func,
            inputs[rows],
            index_additional_forward_args(args, rows, inputs.shape[0]),
        )
    missing = [n for n, o in zip(names, outputs) if o is None]
    if missing:
        raise ValueError(f"`layers` {missing} were not called by the forward pass.")
    return [o.to(torch.float64) for o in outputs]


def pair_activation_distances(
    forward_funcs: Sequence[Callable[..., Any]],
    models: Sequence[Module],
    names: Sequence[str],
    pairs: Sequence[tuple],
    inputs: Tensor,
    args: tuple,
    tokens: Tensor,
    rows: Tensor,
) -> Tensor:
    """(rows, pairs) mean over layers of the token-aligned mean absolute
    difference of two models' layer outputs."""
    outputs = [
        activations(f, m, names, inputs, args, rows)
        for f, m in zip(forward_funcs, models)
    ]
    keep = tokens[rows]
    distances = []
    for i, j in pairs:
        per_layer = []
        for a, b in zip(outputs[i], outputs[j]):
            gap = (a - b).abs().flatten(2) if a.dim() > 2 else (a - b).abs()
            if gap.dim() == 3 and gap.shape[1] == keep.shape[1]:
                per_layer.append(mean_over(gap.mean(dim=2), keep))
            else:
                per_layer.append(gap.flatten(1).mean(dim=1))
        distances.append(torch.stack(per_layer).mean(dim=0))
    return torch.stack(distances, dim=1)


def pooled_activations(
    forward_func: Callable[..., Any],
    model: Module,
    names: Sequence[str],
    inputs: Tensor,
    args: tuple,
    tokens: Tensor,
    rows: Tensor,
) -> List[Tensor]:
    """Per layer, (rows, features) outputs mean-pooled over the word tokens."""
    keep = tokens[rows].to(torch.float64)
    pooled = []
    for output in activations(forward_func, model, names, inputs, args, rows):
        if output.dim() >= 3 and output.shape[1] == keep.shape[1]:
            flat = output.flatten(2)
            weights = keep / keep.sum(dim=1, keepdim=True).clamp_min(1)
            pooled.append(torch.einsum("nt,ntd->nd", weights, flat))
        else:
            pooled.append(output.flatten(1))
    return pooled


def vocabulary_distance(
    inputs: Tensor, token_scores: Tensor, included: Tensor, pairs: Tensor
) -> Tensor:
    """(pairs,) mean absolute difference of the per-token-id mean scores of the
    two inputs, over the ids present in either."""
    vocabulary = int(inputs.max().item()) + 1
    n_pairs = pairs.shape[0]
    pair = torch.arange(n_pairs, device=inputs.device).unsqueeze(1)
    keys: List[Tensor] = []
    sides: List[Tensor] = []
    values: List[Tensor] = []
    for index in range(2):
        example = pairs[:, index]
        keep = included[example]
        keys.append((pair * vocabulary + inputs[example])[keep])
        values.append(token_scores[example][keep])
        sides.append(torch.full_like(keys[-1], index))
    # (pair, token id) keys present in either input, numbered compactly: a
    # dense (pairs, vocabulary) table would not fit for real vocabularies.
    unique, slot = torch.unique(torch.cat(keys), return_inverse=True)
    side = torch.cat(sides)
    sums = torch.zeros(2, unique.numel(), dtype=torch.float64, device=inputs.device)
    counts = torch.zeros_like(sums)
    sums.index_put_((side, slot), torch.cat(values), accumulate=True)
    counts.index_put_((side, slot), torch.ones_like(sums[0, slot]), accumulate=True)
    gap = (sums[0] / counts[0].clamp_min(1) - sums[1] / counts[1].clamp_min(1)).abs()
    owner = unique // vocabulary
    total = torch.zeros(n_pairs, dtype=torch.float64, device=inputs.device)
    total.index_add_(0, owner, gap)
    return total / torch.bincount(owner, minlength=n_pairs).clamp_min(1)


def mean_over(values: Tensor, keep: Tensor) -> Tensor:
    weights = keep.to(values.dtype)
    return (values * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1)
