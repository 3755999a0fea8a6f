"""The shared test configuration, in the spirit of Captum's
``captum/testing/attr/helpers/test_config.py``: every method of
``captum_nlp_ext.attr`` with a toy-model case, consumed by the generic tests of
``test_every_method.py``. A new method gets those tests by adding one entry."""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict

import torch
from transformers import BertConfig, BertForMaskedLM

from captum_nlp_ext.attr import (
    DiffMask,
    EmbeddingNoiseTunnel,
    LayerInputMarginalization,
    LayerLAFA,
    LayerMaskOptimization,
    LayerNLGP,
    ReferenceIndex,
    VMask,
    VMaskClassifier,
)
from captum_nlp_ext.huggingface import ClassifierForward, get_embedding_layer


@dataclass(frozen=True)
class MethodCase:
    """How to build a method on ``(model, pool_ids, pool_mask)`` and the
    ``attribute`` arguments that keep it cheap (never a default turned off)."""

    name: str
    build: Callable[[Any, torch.Tensor, torch.Tensor], Any]
    kwargs: Dict[str, Any] = field(default_factory=dict)
    seeded: bool = True
    # The call of forward_func that the error test makes fail: the second, so
    # that a method is mid-way (hooks on, mode changed); 1 for single-pass ones.
    fail_at_call: int = 2


def _mlm(vocab_size: int) -> Any:
    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    return BertForMaskedLM(config).eval()


def _index(model: Any, ids: torch.Tensor, mask: torch.Tensor) -> ReferenceIndex:
    return ReferenceIndex.build(
        model, [{"input_ids": ids, "attention_mask": mask}], special_token_ids=[0, 1, 2]
    )


CASES = [
    MethodCase(
        "nlgp",
        lambda m, ids, mask: LayerNLGP(ClassifierForward(m), get_embedding_layer(m)),
        dict(n_samples=16, seed=0),
    ),
    MethodCase(
        "im",
        lambda m, ids, mask: LayerInputMarginalization(
            ClassifierForward(m),
            get_embedding_layer(m),
            _mlm(m.config.vocab_size),
            mask_token_id=4,
            pad_token_id=0,
        ),
        dict(top_k=3),
        seeded=False,  # deterministic
    ),
    MethodCase(
        "lafa",
        lambda m, ids, mask: LayerLAFA(
            ClassifierForward(m), get_embedding_layer(m), _index(m, ids, mask)
        ),
        dict(n_samples=3, seed=0),
    ),
    MethodCase(
        "marc",
        lambda m, ids, mask: LayerMaskOptimization(
            ClassifierForward(m), get_embedding_layer(m, "full"), pad_token_id=0
        ),
        dict(max_steps=4, seed=0),
    ),
    MethodCase(
        "noise_tunnel",
        lambda m, ids, mask: EmbeddingNoiseTunnel(
            LayerNLGP(ClassifierForward(m), get_embedding_layer(m))
        ),
        dict(nt_samples=2, stdevs=0.01, n_samples=16, seed=0),
    ),
    MethodCase(
        "vmask",
        lambda m, ids, mask: VMask(VMaskClassifier(m, special_token_ids=[0, 1, 2])),
        seeded=False,  # deterministic
        fail_at_call=1,  # one forward pass
    ),
    MethodCase(
        "diffmask",
        lambda m, ids, mask: DiffMask(m),  # an unfitted probe: gates still defined
        seeded=False,  # deterministic
        fail_at_call=1,  # one forward pass
    ),
]
