"""Captum's methods in the registry: per-example runs with seeded global
generators, Captum feature masks over words, the shared budget."""

import contextlib
from typing import Any, Callable, Dict, Iterator

import numpy as np
import torch
from captum.attr import (
    FeatureAblation,
    GradientShap,
    KernelShap,
    LayerGradientXActivation,
    LayerIntegratedGradients,
    Lime,
    ShapleyValueSampling,
)
from torch import Tensor

from captum_nlp_ext._utils.hooks import forward_with_layer_replaced
from captum_nlp_ext.engine._registry import MethodContext, MethodSpec, register_method
from captum_nlp_ext.engine._surrogate import WeightedLeastSquares


@contextlib.contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Seed torch's and numpy's global generators (Captum's samplers draw from
    them) and restore both afterwards."""
    state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(state)


def per_example(ctx: MethodContext, run: Callable[[MethodContext], Tensor]) -> Tensor:
    """Run ``run`` on each example alone (cut to its length, global generators
    seeded with the example's seed) and pad the results back into a batch."""
    out = torch.zeros(ctx.input_ids.shape, device=ctx.input_ids.device)
    for row, seed in enumerate(ctx.example_seeds):
        one = ctx.example(row)
        with seeded_global_rng(seed):
            scores = run(one)
        if scores.dim() == 3:
            scores = scores.sum(-1)
        out[row, : scores.shape[1]] = scores[0].detach().float()
    return out


def _feature_ablation(token: str) -> Callable[[MethodContext, Dict], Tensor]:
    def run(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
        def one(c: MethodContext) -> Tensor:
            return FeatureAblation(c.forward(settings["output"])).attribute(
                c.input_ids,
                baselines=c.baseline_ids(token),
                target=c.target,
                additional_forward_args=c.additional_forward_args,
                feature_mask=c.captum_feature_mask(),
                perturbations_per_eval=c.internal_batch_size,
            )

        return per_example(ctx, one)

    return run


def _surrogate(kind: str) -> Callable[[MethodContext, Dict], Tensor]:
    def run(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
        def one(c: MethodContext) -> Tensor:
            forward = c.forward(settings["output"])
            if kind == "lime":
                method: Lime = Lime(forward, interpretable_model=WeightedLeastSquares())
            else:
                method = KernelShap(forward)
                method.interpretable_model = WeightedLeastSquares()
            return method.attribute(
                c.input_ids,
                baselines=c.baseline_ids("pad"),
                target=c.target,
                additional_forward_args=c.additional_forward_args,
                feature_mask=c.captum_feature_mask(),
                n_samples=c.budget,
                perturbations_per_eval=c.internal_batch_size,
            )

        return per_example(ctx, one)

    return run


def _shapley(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    def one(c: MethodContext) -> Tensor:
        features = int(c.words[0]) + 1
        return ShapleyValueSampling(c.forward(settings["output"])).attribute(
            c.input_ids,
            baselines=c.baseline_ids("pad"),
            target=c.target,
            additional_forward_args=c.additional_forward_args,
            feature_mask=c.captum_feature_mask(),
            n_samples=max(1, c.budget // features),
            perturbations_per_eval=c.internal_batch_size,
        )

    return per_example(ctx, one)


def _lig(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    # One example at a time, cut to its length: Captum runs a batch's steps at
    # the batch's width, and its padding was 30% of the tokens on SST-2.
    def one(c: MethodContext) -> Tensor:
        return LayerIntegratedGradients(
            c.forward(settings["output"]), c.layer
        ).attribute(
            c.input_ids,
            baselines=c.baseline_ids("pad"),
            target=c.target,
            additional_forward_args=c.additional_forward_args,
            n_steps=settings["n_steps"],
            internal_batch_size=c.gradient_rows_per_pass,
        )

    return per_example(ctx, one)


def _gradients(ctx: MethodContext, output: str, multiply: bool) -> Tensor:
    return LayerGradientXActivation(
        ctx.forward(output), ctx.layer, multiply_by_inputs=multiply
    ).attribute(
        ctx.input_ids,
        target=ctx.target,
        additional_forward_args=ctx.additional_forward_args,
    )


def _saliency(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    return _gradients(ctx, settings["output"], multiply=False).norm(dim=-1)


def _ixg(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    return _gradients(ctx, settings["output"], multiply=True).sum(-1)


def _gradshap(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    def one(c: MethodContext) -> Tensor:
        layer, forward = c.layer, c.forward(settings["output"])

        def layer_forward(layer_output: Tensor, ids: Tensor, *args: Any) -> Tensor:
            return forward_with_layer_replaced(forward, layer, ids, args, layer_output)

        with torch.no_grad():
            inputs, baseline = layer(c.input_ids), layer(c.baseline_ids("pad"))
        return GradientShap(layer_forward).attribute(
            inputs,
            baselines=baseline,
            target=c.target,
            additional_forward_args=(c.input_ids, *c.additional_forward_args),
            n_samples=settings["n_samples"],
            stdevs=settings["stdevs"],
        )

    return per_example(ctx, one)


_PROBS = {"output": "probs"}
_LOGITS = {"output": "logits"}
register_method(
    "lig",
    MethodSpec(
        _lig,
        "Captum LayerIntegratedGradients on token embeddings, [PAD] baseline",
        "captum",
        "gradient",
        {**_LOGITS, "n_steps": 50},
    ),
)
register_method(
    "saliency",
    MethodSpec(
        _saliency,
        "Saliency: L2 norm of the gradient w.r.t. each token embedding",
        "captum",
        "gradient",
        dict(_LOGITS),
        signed=False,
    ),
)
register_method(
    "ixg",
    MethodSpec(
        _ixg,
        "Captum LayerGradientXActivation (Input x Gradient) on token embeddings",
        "captum",
        "gradient",
        dict(_LOGITS),
    ),
)
register_method(
    "gradshap",
    MethodSpec(
        _gradshap,
        "Captum GradientShap on token embeddings, [PAD]-embedding baseline",
        "captum",
        "gradient",
        {**_LOGITS, "n_samples": 20, "stdevs": 0.0},
    ),
)
register_method(
    "occlusion",
    MethodSpec(
        _feature_ablation("mask"),
        "Occlusion: leave-one-out over words, each word's tokens -> [MASK] "
        "(Captum FeatureAblation)",
        "captum",
        "perturbation",
        dict(_PROBS),
        "fixed: words + 1 evaluations",
    ),
)
register_method(
    "feature_ablation",
    MethodSpec(
        _feature_ablation("pad"),
        "Captum FeatureAblation over words, each word's tokens -> [PAD]",
        "captum",
        "perturbation",
        dict(_PROBS),
        "fixed: words + 1 evaluations",
    ),
)
register_method(
    "lime",
    MethodSpec(
        _surrogate("lime"),
        "Captum Lime over words ([PAD] baseline), weighted least-squares surrogate",
        "captum",
        "perturbation",
        dict(_PROBS),
        "n_samples = budget",
    ),
)
register_method(
    "kernel_shap",
    MethodSpec(
        _surrogate("kernel_shap"),
        "Captum KernelShap over words ([PAD] baseline), weighted least squares",
        "captum",
        "perturbation",
        dict(_PROBS),
        "n_samples = budget",
    ),
)
register_method(
    "shapley",
    MethodSpec(
        _shapley,
        "Captum ShapleyValueSampling over words ([PAD] baseline)",
        "captum",
        "perturbation",
        dict(_PROBS),
        "permutations = max(1, budget // (words + 1))",
    ),
)
