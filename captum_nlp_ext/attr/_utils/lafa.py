"""The engine of LAFA (Zhang et al., NAACL 2022): base gradient scores
(Saliency, SmoothGrad, Integrated Gradients on a layer's output), the kernels
and the aggregation behind :class:`~captum_nlp_ext.attr.LayerLAFA`."""

from dataclasses import dataclass, replace
from typing import Any, Callable, List, Optional, Tuple

import torch
from captum.attr import IntegratedGradients, Saliency
from torch import Tensor
from torch.nn import Module
from tqdm.auto import tqdm

from captum_nlp_ext._utils.batching import (
    DEFAULT_INTERNAL_BATCH_SIZE,
    index_additional_forward_args,
    needed_columns,
    packed_chunks,
    row_chunks,
    trim_columns,
)
from captum_nlp_ext._utils.hooks import (
    forward_with_layer_output,
    forward_with_layer_replaced,
)
from captum_nlp_ext._utils.models import attention_mask_of, ClassifierForward
from captum_nlp_ext._utils.random import normal_at
from captum_nlp_ext._utils.validation import check_choice, check_inputs
from captum_nlp_ext.attr._core.reference_index import ReferenceIndex
from captum_nlp_ext.attr._utils.reference_scores import ReferenceScores

KERNELS = ("indicator", "rbf", "cubic", "cosine", "laplacian", "l2")
_CUBIC_SCALE = 7.0


_L2_CLIP = (0.3, 3.0)


@dataclass(frozen=True)
class BaseSettings:
    """How one :meth:`LayerLAFA.attribute` call computes base scores."""

    base: str
    n_samples: int
    stdevs: float
    n_steps: int
    internal_batch_size: Optional[int]
    show_progress: bool
    seed: Optional[int]


class LayerOutputForward:
    """``forward_func`` as a function of ``layer``'s output, so that Captum's
    input-space gradient methods act on the embedding layer:
    ``f(layer_output, inputs, *args)``."""

    def __init__(self, forward_func: Callable[..., Any], layer: Module) -> None:
        self.forward_func = forward_func
        self.layer = layer

    def __call__(self, layer_output: Tensor, inputs: Tensor, *args: Any) -> Tensor:
        return forward_with_layer_replaced(
            self.forward_func, self.layer, inputs, args, layer_output
        )


def base_gradients(
    forward: LayerOutputForward,
    inputs: Tensor,
    args: Tuple,
    embeddings: Tensor,
    target: Optional[Tensor],
    rows: Tensor,
    settings: BaseSettings,
) -> Tensor:
    """Saliency gradients, or Integrated Gradients attributions, of some rows."""
    row_args = (inputs[rows], *index_additional_forward_args(args, rows, len(inputs)))
    row_target = None if target is None else target[rows]
    if settings.base == "saliency":
        return Saliency(forward).attribute(
            embeddings[rows].requires_grad_(),
            target=row_target,
            abs=False,
            additional_forward_args=row_args,
        )
    return IntegratedGradients(forward).attribute(
        embeddings[rows],
        baselines=0.0,
        target=row_target,
        additional_forward_args=row_args,
        n_steps=settings.n_steps,
        internal_batch_size=settings.internal_batch_size or DEFAULT_INTERNAL_BATCH_SIZE,
    )


def smoothgrad_gradients(
    forward: LayerOutputForward,
    inputs: Tensor,
    args: Tuple,
    embeddings: Tensor,
    attention_mask: Tensor,
    target: Optional[Tensor],
    settings: BaseSettings,
) -> Tensor:
    """Mean gradient over ``n_samples`` noisy copies of each row's embeddings.

    The noise is drawn here rather than by Captum's NoiseTunnel so that it is
    seeded per copy (an example gets the same noise alone or in a batch) and
    scaled per example, relative to its embedding range.
    """
    rows, tokens, hidden = embeddings.shape
    attended = (attention_mask > 0).unsqueeze(-1)
    high = embeddings.masked_fill(~attended, float("-inf")).amax((1, 2))
    low = embeddings.masked_fill(~attended, float("inf")).amin((1, 2))
    scale = settings.stdevs * (high - low)
    total = torch.zeros_like(embeddings)
    copy_example = torch.arange(rows * settings.n_samples, device=inputs.device)
    copy_example = copy_example // settings.n_samples
    # Copies of all examples are packed by length, each pass cut to the
    # columns its longest text attends (the model masks the rest out).
    lengths = needed_columns(attended[..., 0])
    for copies, width in packed_chunks(
        copy_example,
        lengths,
        settings.internal_batch_size,
        settings.show_progress,
        "LAFA smoothgrad",
    ):
        assert width is not None
        example = copy_example[copies]
        seeds = (
            None
            if settings.seed is None
            else [settings.seed + 1 + s for s in (copies % settings.n_samples).tolist()]
        )
        noise = normal_at(attended[example, :width, 0], hidden, seeds, embeddings)
        noisy = embeddings[example, :width] + scale[example].view(-1, 1, 1) * noise
        noisy.requires_grad_()
        gradients = Saliency(forward).attribute(
            noisy,
            target=None if target is None else target[example],
            abs=False,
            additional_forward_args=(
                inputs[example, :width],
                *trim_columns(
                    index_additional_forward_args(args, example, rows), tokens, width
                ),
            ),
        )
        total[:, :width].index_add_(0, example, gradients)
    return total / settings.n_samples


def kernel_matrix(
    kernel: str,
    queries: Tensor,
    keys: Tensor,
    query_ids: Tensor,
    key_ids: Tensor,
    length_scale: float = 2.0,
) -> Tensor:
    r"""LAFA's kernels between every query token and every key token.

    Args:
        kernel (str): One of :data:`KERNELS`.
        queries (Tensor): (batch, T, hidden) embeddings.
        keys (Tensor): (batch, N, hidden) embeddings.
        query_ids (Tensor): (batch, T) token ids (for ``"indicator"``).
        key_ids (Tensor): (batch, N) token ids.
        length_scale (float): :math:`l` of ``"rbf"`` and ``"laplacian"``.
                    Default: 2.0

    Returns:
        (batch, T, N) kernel values.
    """
    check_choice("kernel", kernel, KERNELS)
    if kernel == "indicator":
        return (query_ids.unsqueeze(2) == key_ids.unsqueeze(1)).to(queries.dtype)
    if kernel == "cubic":
        return (_CUBIC_SCALE * queries @ keys.transpose(1, 2)) ** 3
    if kernel == "cosine":
        unit_q = torch.nn.functional.normalize(queries, dim=-1)
        unit_k = torch.nn.functional.normalize(keys, dim=-1)
        return unit_q @ unit_k.transpose(1, 2)
    if kernel == "laplacian":
        return torch.exp(-torch.cdist(queries, keys, p=1.0) / length_scale**2)
    distance = torch.cdist(queries, keys, p=2.0)
    if kernel == "rbf":
        return torch.exp(-distance / length_scale**2)
    return 1.0 / distance.clamp(*_L2_CLIP)


def aggregate(
    scores: Tensor,
    embeddings: Tensor,
    input_ids: Tensor,
    neighbour_scores: Tensor,
    neighbour_embeddings: Optional[Tensor],
    neighbour_ids: Tensor,
    neighbour_words: Tensor,
    neighbour_valid: Tensor,
    kernel: str = "indicator",
    lam: float = 0.44,
    length_scale: float = 2.0,
) -> Tensor:
    r"""LAFA's aggregation :math:`M_t = m_{0,t} + \lambda E(w_t)`.

    Args:
        scores (Tensor): (batch, T) base scores :math:`m_0` of the texts.
        embeddings (Tensor): (batch, T, hidden) their embeddings.
        input_ids (Tensor): (batch, T) their token ids.
        neighbour_scores (Tensor): (batch, M, L) base scores of the neighbours.
        neighbour_embeddings (Tensor, optional): (batch, M, L, hidden); None
                    for the indicator kernel, which compares token ids.
        neighbour_ids (Tensor): (batch, M, L).
        neighbour_words (Tensor): (batch, M, L) bool; the tokens that count
                    (:math:`T_i` is their number).
        neighbour_valid (Tensor): (batch, M) bool; existing neighbours.
        kernel (str): See :func:`kernel_matrix`. Default: "indicator"
        lam (float): :math:`\lambda`. Default: 0.44
        length_scale (float): See :func:`kernel_matrix`. Default: 2.0

    Returns:
        (batch, T) LAFA scores; rows without a valid neighbour keep :math:`m_0`.
    """
    words = neighbour_words & neighbour_valid.unsqueeze(-1)
    dtype = scores.dtype
    lengths = words.sum(-1, keepdim=True).clamp_min(1).to(dtype)
    count = neighbour_valid.sum(-1).clamp_min(1).to(dtype).view(-1, 1, 1)
    weights = neighbour_scores * words.to(dtype) / lengths / count
    key_ids = neighbour_ids.flatten(1, 2)
    if kernel == "indicator":
        similarity = (input_ids.unsqueeze(2) == key_ids.unsqueeze(1)).to(dtype)
    else:
        if neighbour_embeddings is None:
            raise ValueError(f"the {kernel!r} kernel needs `neighbour_embeddings`.")
        similarity = kernel_matrix(
            kernel,
            embeddings,
            neighbour_embeddings.flatten(1, 2),
            input_ids,
            key_ids,
            length_scale,
        )
    expected = torch.einsum("btn,bn->bt", similarity, weights.flatten(1))
    return scores + lam * expected


def normalized(scores: Tensor, mask: Tensor) -> Tensor:
    """Scores divided by their sum over ``mask`` (each row); zero outside it."""
    kept = scores * mask.to(scores.dtype)
    total = kept.sum(-1, keepdim=True)
    return kept / torch.where(total > 0, total, torch.ones_like(total))


def reference_scores(
    forward_func: Callable[..., Any],
    layer: Module,
    index: ReferenceIndex,
    indices: Tensor,
    target: Optional[Tensor],
    settings: BaseSettings,
    normalize: bool,
    embeddings_needed: bool = True,
    kept: Optional[ReferenceScores] = None,
) -> Tuple[Tensor, Optional[Tensor], Tensor, Tensor, Tensor]:
    """Base scores, embeddings, ids and word masks of every example's
    neighbours (``indices``, positions in ``index``), each distinct (text,
    target) pair computed once; with ``normalize`` each text's scores are
    divided by their sum over its words.

    With ``kept``, the scores of pairs it holds are read from it and those
    computed here are added to it; embeddings are computed only when
    ``embeddings_needed`` (the kernel compares them), so a neighbour whose
    scores are kept costs nothing.

    Returns:
        (batch, M, L) scores, (batch, M, L, hidden) embeddings (None unless
        needed), (batch, M, L) ids, (batch, M, L) word mask and (batch, M)
        validity.
    """
    valid = indices >= 0
    classes = 1 if target is None else int(target.max()) + 1
    query_target = (
        torch.zeros_like(indices)
        if target is None
        else target.unsqueeze(1).expand_as(indices)
    )
    keys = indices.clamp(min=0) * classes + query_target
    unique, inverse = torch.unique(keys[valid], return_inverse=True)
    pool_rows, row_target = unique // classes, unique % classes
    ids, mask, words = index.gather(pool_rows.to(index.input_ids.device))
    ids, mask, words = (t.to(indices.device) for t in (ids, mask, words))
    lengths = mask.sum(1).tolist()
    scores = torch.zeros(ids.shape, device=ids.device)
    missing = torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)
    if kept is not None:
        found = kept.lookup(pool_rows.tolist(), row_target.tolist())
        for row, values in enumerate(found):
            if values is not None:
                scores[row, : values.numel()] = values.to(scores.device)
                missing[row] = False
    row_target = None if target is None else row_target.to(indices.device)
    embeddings: Optional[Tensor] = None
    work = torch.ones_like(missing) if embeddings_needed else missing
    # Each text alone, cut to the columns it attends: its scores then do not
    # depend on which other texts are computed with it (not even by
    # floating-point rounding), so kept scores are exactly what a fresh
    # computation gives, in any process. Its SmoothGrad copies fill the passes.
    quiet = replace(settings, show_progress=False)
    for row in tqdm(
        work.nonzero().flatten().tolist(),
        desc="LAFA references",
        disable=not settings.show_progress,
        leave=False,
    ):
        columns = mask[row].nonzero().flatten()
        span = slice(int(columns[0]), int(columns[-1]) + 1)
        text_ids, text_mask = ids[row : row + 1, span], mask[row : row + 1, span]
        with torch.no_grad():
            text_embeddings = forward_with_layer_output(
                forward_func, layer, text_ids, (text_mask,)
            )[1]
        if embeddings_needed:
            if embeddings is None:
                embeddings = text_embeddings.new_zeros(
                    *ids.shape, text_embeddings.shape[-1]
                )
            embeddings[row, span] = text_embeddings[0]
        if bool(missing[row]):
            gradients = base_gradients_of(
                forward_func,
                layer,
                text_ids,
                (text_mask,),
                text_embeddings,
                text_mask,
                None if row_target is None else row_target[row : row + 1],
                quiet,
            )
            scores[row, span] = gradients[0].pow(2).sum(-1).to(scores.dtype)
    if kept is not None and bool(missing.any()):
        new = missing.nonzero().flatten()
        kept.store(
            pool_rows[new].tolist(),
            (torch.zeros_like(new) if row_target is None else row_target[new]).tolist(),
            scores[new],
            [lengths[r] for r in new.tolist()],
        )
    if normalize:
        scores = normalized(scores, words)
    slot = torch.zeros_like(indices)
    slot[valid] = inverse
    return (
        scores[slot],
        None if embeddings is None else embeddings[slot],
        ids[slot],
        words[slot] & valid.unsqueeze(-1),
        valid,
    )


def signed_base(gradients: Tensor, embeddings: Tensor, base: str) -> Tensor:
    """(rows, tokens) signed base scores: gradient x input of the (mean)
    gradient, or the sum of an Integrated Gradients attribution vector (which
    already multiplies by the input)."""
    if base == "integrated_gradients":
        return gradients.sum(-1)
    return (gradients * embeddings).sum(-1)


def base_gradients_of(
    forward_func: Callable[..., Any],
    layer: Module,
    inputs: Tensor,
    args: Tuple,
    embeddings: Tensor,
    attention_mask: Tensor,
    target: Optional[Tensor],
    settings: BaseSettings,
) -> Tensor:
    """(rows, tokens, hidden) gradients of the base method (Integrated
    Gradients: its attribution vectors)."""
    forward = LayerOutputForward(forward_func, layer)
    if settings.base == "smoothgrad":
        gradients = smoothgrad_gradients(
            forward, inputs, args, embeddings, attention_mask, target, settings
        )
    else:
        gradients = torch.cat(
            [
                base_gradients(
                    forward, inputs, args, embeddings, target, rows, settings
                )
                for rows in row_chunks(
                    inputs.shape[0],
                    settings.internal_batch_size,
                    settings.show_progress,
                    f"LAFA {settings.base}",
                    inputs.device,
                )
            ]
        )
    return gradients


def forward_name(forward_func: Callable[..., Any], model: Module) -> Optional[str]:
    """A name for ``forward_func`` that says what it computes from ``model``,
    or None when it cannot be told from the object."""
    if forward_func is model:
        return "model"
    if isinstance(forward_func, ClassifierForward) and forward_func.model is model:
        return f"ClassifierForward(output={forward_func.output})"
    return None


def attended_spans(attention_mask: Tensor) -> List[slice]:
    """Per row, the columns from its first to its last attended token."""
    spans = []
    for row in attention_mask > 0:
        columns = row.nonzero().flatten()
        if columns.numel() == 0:
            spans.append(slice(0, row.shape[0]))
        else:
            spans.append(slice(int(columns[0]), int(columns[-1]) + 1))
    return spans


def check_token_ids(inputs: Any) -> Tensor:
    inputs = check_inputs(inputs)
    if inputs.is_floating_point():
        raise TypeError(
            "LayerLAFA needs token ids (batch, tokens) as `inputs`: its reference "
            "texts and its indicator kernel are defined on tokens; got embeddings "
            f"of shape {tuple(inputs.shape)}."
        )
    return inputs


def input_attention_mask(
    forward_func: Callable[..., Any], inputs: Tensor, args: Tuple
) -> Tensor:
    """The explained texts' attention mask (:func:`attention_mask_of`: where
    ``forward_func`` declares it, else the first additional argument), or
    every token when there is none."""
    first = args[0] if args else None
    if first is None:
        return torch.ones_like(inputs)
    mask = attention_mask_of(forward_func, inputs, args)
    if mask is not None:
        return mask
    if not isinstance(first, Tensor) or first.shape != inputs.shape:
        raise ValueError(
            "LayerLAFA feeds reference texts to `forward_func` as (input_ids, "
            "attention_mask): the first of `additional_forward_args` must be the "
            f"attention mask of `inputs`, shape {tuple(inputs.shape)}; got "
            f"{type(first).__name__}"
            + (f" of shape {tuple(first.shape)}." if isinstance(first, Tensor) else ".")
        )
    return first
