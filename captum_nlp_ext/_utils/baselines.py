"""What a layer method's ``baselines`` argument means, read once for every
method that moves a layer's output toward a reference (NLGP, MaRC): a layer
output, reference token ids, one token id, or the default (None)."""

from typing import Any, Callable, NamedTuple, Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.hooks import forward_with_layer_output
from captum_nlp_ext._utils.units import Units
from captum_nlp_ext._utils.windows import Rows

BaselinesType = Union[None, int, Tensor]


class Baseline(NamedTuple):
    """``baselines`` read against the inputs.

    Attributes:
        layer (Tensor, optional): The reference's layer output, (batch or 1,
                    tokens, hidden).
        ids (Tensor, optional): Reference token ids, (batch or 1, tokens).
        token (int, optional): One token id for every included token (None
                    with the others: the method's default, e.g. [PAD]).
    """

    layer: Optional[Tensor] = None
    ids: Optional[Tensor] = None
    token: Optional[int] = None


def read_baselines(baselines: BaselinesType, inputs: Tensor, hidden: int) -> Baseline:
    """Check ``baselines`` against ``inputs`` (token ids (batch, tokens), or
    embeddings (batch, tokens, hidden)) and say which kind it is.

    Raises:
        TypeError: ``baselines`` is of none of the kinds.
        ValueError: A tensor of the wrong shape, or token ids for embedding
                    ``inputs``.
    """
    batch, tokens = inputs.shape[:2]
    if isinstance(baselines, Tensor) and baselines.is_floating_point():
        if (
            baselines.dim() != 3
            or baselines.shape[0] not in (1, batch)
            or tuple(baselines.shape[1:]) != (tokens, hidden)
        ):
            raise ValueError(
                "`baselines` as a layer output must have shape (batch or 1, "
                f"tokens, hidden) = ({batch}, {tokens}, {hidden}); got "
                f"{tuple(baselines.shape)}."
            )
        return Baseline(layer=baselines)
    if baselines is None:
        return Baseline()
    if not isinstance(baselines, Tensor) and (
        isinstance(baselines, bool) or not isinstance(baselines, int)
    ):
        raise TypeError(
            "`baselines` must be None, a token id, a LongTensor of token ids or "
            f"a float tensor of layer outputs; got {type(baselines).__name__}."
        )
    if inputs.is_floating_point():
        raise ValueError(
            "With embeddings as `inputs`, `baselines` must be the reference's "
            "layer output, a float tensor (batch or 1, tokens, hidden)."
        )
    if isinstance(baselines, Tensor):
        if (
            baselines.dim() != 2
            or baselines.shape[0] not in (1, batch)
            or baselines.shape[1] != tokens
        ):
            raise ValueError(
                "`baselines` token ids must have shape (batch or 1, tokens) = "
                f"({batch}, {tokens}), the length of `inputs`; got "
                f"{tuple(baselines.shape)}."
            )
        return Baseline(ids=baselines)
    return Baseline(token=int(baselines))


def reference_rows(
    forward_func: Callable[..., Any],
    layer: Module,
    baselines: BaselinesType,
    inputs: Tensor,
    rows: Rows,
    row_inputs: Tensor,
    row_args: Tuple,
    row_units: Units,
    embeddings: Tensor,
    pad_token_id: Optional[int],
    needs_cut: bool,
) -> Tensor:
    """The reference's layer output for every row of a windowed batch
    (:class:`~captum_nlp_ext._utils.windows.Rows`): ``baselines`` read by
    :func:`read_baselines`, the default the padding token on every included
    token (MaRC's reference)."""
    batch = inputs.shape[0]
    baseline = read_baselines(baselines, inputs, embeddings.shape[2])
    if baseline.layer is not None:
        if needs_cut:
            raise ValueError(
                "`baselines` as a layer output cannot be cut into windows (it "
                "depends on positions); pass baseline token ids instead."
            )
        return rows.cut(baseline.layer.to(embeddings).expand(batch, -1, -1), 0.0)
    if inputs.is_floating_point():
        raise ValueError(
            "With embeddings as `inputs`, `baselines` must be the reference's "
            "layer output, a float tensor (batch or 1, tokens, hidden)."
        )
    if baseline.ids is not None:
        reference_ids = rows.cut(
            baseline.ids.to(row_inputs).expand(batch, -1),
            0 if pad_token_id is None else pad_token_id,
        )
    else:
        token = baseline.token if baseline.token is not None else pad_token_id
        if token is None:
            raise ValueError(
                "The default `baselines` needs the padding token id: pass "
                "`pad_token_id` to LayerMaskOptimization (the model's config "
                "has none) or give `baselines`."
            )
        reference_ids = torch.where(
            row_units.included, torch.full_like(row_inputs, token), row_inputs
        )
    _, reference_embeddings = forward_with_layer_output(
        forward_func, layer, reference_ids, row_args
    )
    return reference_embeddings
