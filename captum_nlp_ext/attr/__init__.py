"""Attribution methods of captum-nlp-ext, mirroring :mod:`captum.attr`."""

from captum_nlp_ext.attr._core.causal_lm_attribution import CausalLMAttribution
from captum_nlp_ext.attr._core.diffmask import DiffMask
from captum_nlp_ext.attr._core.diffmask_layers import (
    diffmask_across_layers,
    DiffMaskLayers,
)
from captum_nlp_ext.attr._core.embedding_noise_tunnel import EmbeddingNoiseTunnel
from captum_nlp_ext.attr._core.layer_input_marginalization import (
    LayerInputMarginalization,
)
from captum_nlp_ext.attr._core.layer_lafa import LayerLAFA
from captum_nlp_ext.attr._core.layer_mask_optimization import LayerMaskOptimization
from captum_nlp_ext.attr._core.layer_nlgp import LayerNLGP
from captum_nlp_ext.attr._core.reference_index import Neighbours, ReferenceIndex
from captum_nlp_ext.attr._core.vmask import VMask
from captum_nlp_ext.attr._core.vmask_classifier import VMaskClassifier
from captum_nlp_ext.attr._utils.llm_candidates import CausalLMCandidates
from captum_nlp_ext.attr._utils.mask_settings import MaskOptimizationSettings
from captum_nlp_ext.attr._utils.reference_search import NeighbourSearch
from captum_nlp_ext.attr._utils.vmask import BetaSchedule
from captum_nlp_ext.attr._utils.vmask_fit import VMaskFitSettings

__all__ = [
    "BetaSchedule",
    "CausalLMAttribution",
    "CausalLMCandidates",
    "DiffMask",
    "DiffMaskLayers",
    "diffmask_across_layers",
    "EmbeddingNoiseTunnel",
    "LayerInputMarginalization",
    "LayerLAFA",
    "LayerMaskOptimization",
    "LayerNLGP",
    "MaskOptimizationSettings",
    "NeighbourSearch",
    "Neighbours",
    "ReferenceIndex",
    "VMask",
    "VMaskClassifier",
    "VMaskFitSettings",
]
