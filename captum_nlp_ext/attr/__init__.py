"""Attribution methods of captum-nlp-ext, mirroring :mod:`captum.attr`."""

from captum_nlp_ext.attr._core.embedding_noise_tunnel import EmbeddingNoiseTunnel
from captum_nlp_ext.attr._core.layer_nlgp import LayerNLGP

__all__ = ["EmbeddingNoiseTunnel", "LayerNLGP"]
