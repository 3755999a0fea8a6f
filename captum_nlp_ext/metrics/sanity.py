"""Sanity checks of attributions: model randomization (Adebayo, Gilmer,
Muelly, Goodfellow, Hardt and Kim, "Sanity Checks for Saliency Maps", NeurIPS
2018), as applied to text classifiers by Pham et al. (2022)."""

import copy
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.deprecation import keyword_only_after
from captum_nlp_ext._utils.validation import check_choice
from captum_nlp_ext.metrics._modules import randomization_stages
from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics._stats import masked_spearman
from captum_nlp_ext.metrics._words import word_scores

MODES = ("cascading", "independent")
REINITS = ("moments", "reset_parameters")

Stages = Sequence[Tuple[str, Sequence[str]]]


@keyword_only_after(2)
def model_randomization(
    model: Module,
    explain: Callable[[Module], Tensor],
    *,
    feature_mask: Optional[Tensor] = None,
    stages: Optional[Stages] = None,
    mode: str = "cascading",
    reinit: str = "moments",
    pool: str = "auto",
    absolute: bool = False,
    seed: int = 0,
) -> Dict[str, MetricResult]:
    r"""Model randomization test: the rank correlation between the word
    attributions of the trained model and those of copies whose layers are
    re-initialized, stage by stage from the top.

    An explanation that depends on what the model learned changes as its
    weights are destroyed, so its correlation should fall toward 0; one that
    stays high explains the input, not the model (Adebayo et al., 2018).

    The user's model is never modified: a deep copy is randomized. With
    ``mode="cascading"`` (the paper's main test) stage :math:`i` re-initializes
    stages 1..i together; with ``"independent"`` only stage :math:`i`.

    Re-initialization (``reinit``): ``"moments"`` draws each parameter tensor
    from a normal distribution with the mean and standard deviation of its
    trained values, which keeps each layer's scale (a randomized model whose
    activations vanish or explode would pass the test for the wrong reason);
    ``"reset_parameters"`` calls each module's own ``reset_parameters()``
    (PyTorch's default initialization), leaving modules without one trained.

    Args:
        model (torch.nn.Module): The trained classifier.
        explain (Callable): ``explain(model) -> attributions``: attributions
                    (batch, tokens) or (batch, tokens, hidden) of a fixed batch
                    by the method under test, computed with the model it is
                    given, e.g.::

                        def explain(m):
                            lig = LayerIntegratedGradients(
                                ClassifierForward(m), get_embedding_layer(m))
                            return lig.attribute(ids, target=labels,
                                additional_forward_args=(mask,))

                    Keep the target fixed (e.g. the labels): with ``None`` each
                    randomized model would explain its own prediction.
        feature_mask (Tensor, optional): Word ids of the batch; negative ids
                    exclude a token. Default: None (every token is a word)
        stages (list, optional): ``(name, parameter names)`` pairs, top first.
                    Default: None (:func:`randomization_stages`: the head, each
                    encoder block from the top, the embeddings)
        mode (str): ``"cascading"`` or ``"independent"``. Default: "cascading"
        reinit (str): ``"moments"`` or ``"reset_parameters"``.
                    Default: "moments"
        pool (str): Pooling of token scores into words (see
                    :func:`~captum_nlp_ext.metrics.auprc`). Default: "auto"
        absolute (bool): Correlate magnitudes (the paper reports both).
                    Default: False
        seed (int): Seed of the re-initialization. Default: 0

    Returns:
        An ordered dict, stage name -> MetricResult ``"model_randomization"``
        of the per-example Spearman correlation (NaN for an example whose
        attributions are constant) between trained and randomized attributions.
    """
    check_choice("mode", mode, MODES)
    check_choice("reinit", reinit, REINITS)
    stage_list = _check_stages(model, stages)
    working = copy.deepcopy(model)
    trained, units = word_scores(explain(working), feature_mask, pool, absolute)
    results: Dict[str, MetricResult] = OrderedDict()
    generator = torch.Generator().manual_seed(seed)
    for index, (stage, parameter_names) in enumerate(stage_list):
        if mode == "independent":
            working = copy.deepcopy(model)
            generator.manual_seed(seed + index)
        _reinitialize(working, parameter_names, reinit, generator)
        randomized, randomized_units = word_scores(
            explain(working), feature_mask, pool, absolute
        )
        if randomized.shape != trained.shape:
            raise ValueError(
                "`explain` must return attributions of the same shape for every "
                f"model; got {tuple(randomized.shape)} after stage {stage!r}, "
                f"{tuple(trained.shape)} for the trained model."
            )
        values = masked_spearman(trained, randomized, units.valid)
        results[stage] = summarize(
            "model_randomization",
            values,
            stage=stage,
            mode=mode,
            reinit=reinit,
            parameters=len(parameter_names),
            absolute=absolute,
        )
    return results


def _check_stages(
    model: Module, stages: Optional[Stages]
) -> List[Tuple[str, List[str]]]:
    if stages is None:
        return randomization_stages(model)
    known = dict(model.named_parameters())
    checked = []
    for entry in stages:
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
            raise TypeError(
                "`stages` must be a list of (name, parameter names) pairs; got "
                f"{entry!r}."
            )
        name, parameter_names = entry
        missing = [p for p in parameter_names if p not in known]
        if missing or not parameter_names:
            raise ValueError(
                f"`stages` entry {name!r} names no parameter or unknown parameters "
                f"{missing[:3]} of the model (see model.named_parameters())."
            )
        checked.append((str(name), list(parameter_names)))
    if not checked:
        raise ValueError("`stages` is empty: name at least one stage.")
    return checked


def _reinitialize(
    model: Module,
    parameter_names: Sequence[str],
    reinit: str,
    generator: torch.Generator,
) -> None:
    with torch.no_grad():
        if reinit == "moments":
            _draw_with_moments(model, parameter_names, generator)
        else:
            _reset_modules(model, set(parameter_names), generator)


def _draw_with_moments(
    model: Module, parameter_names: Sequence[str], generator: torch.Generator
) -> None:
    parameters = dict(model.named_parameters())
    for name in parameter_names:
        p = parameters[name]
        values = p.detach().to(torch.float64)
        spread = values.std() if values.numel() > 1 else values.new_zeros(())
        draw = torch.randn(p.shape, generator=generator, dtype=torch.float64)
        p.copy_(values.mean() + spread * draw.to(p.device))


def _reset_modules(
    model: Module, parameter_names: Set[str], generator: torch.Generator
) -> None:
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    # Forking every device the model lives on keeps the user's random streams,
    # CUDA's included, untouched by the re-initialization.
    devices = sorted({p.device.index for p in model.parameters() if p.is_cuda})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for prefix, module in model.named_modules():
            owned = {
                f"{prefix}.{n}" if prefix else n
                for n, _ in module.named_parameters(recurse=False)
            }
            if owned & parameter_names and hasattr(module, "reset_parameters"):
                module.reset_parameters()
