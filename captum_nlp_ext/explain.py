"""Explain texts with several attribution methods side by side.

A small registry maps a method name to how it is built on a Hugging Face
classifier and how its token scores become word scores; the command line
(:mod:`captum_nlp_ext.cli`) and the comparison page use it, and a new method
joins them by registering itself with :func:`register_method`.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from captum.attr import Attribution, LayerIntegratedGradients
from captum.attr._utils.visualization import VisualizationDataRecord
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext.attr import LayerNLGP
from captum_nlp_ext.attr.visualization import visualization_records, word_attributions
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    word_feature_mask,
)


@dataclass(frozen=True)
class ExplainContext:
    """What a method may need besides the inputs, for one batch of texts."""

    model: Module
    tokenizer: Any
    input_ids: Tensor
    attention_mask: Tensor
    feature_mask: Tensor
    target: Tensor
    seed: int


@dataclass(frozen=True)
class MethodSpec:
    """How to run one attribution method on a Hugging Face classifier.

    Attributes:
        build (Callable): ``(forward_func, layer) -> Attribution``.
        attribute_kwargs (Callable): ``ExplainContext -> dict`` of keyword
                    arguments for ``attribute`` besides inputs, target and
                    additional_forward_args.
        description (str): One line for listings.
    """

    build: Callable[[Callable, Module], Attribution]
    attribute_kwargs: Callable[[ExplainContext], Dict[str, Any]] = field(
        default=lambda ctx: {}
    )
    description: str = ""


METHODS: Dict[str, MethodSpec] = {}


def register_method(name: str, spec: MethodSpec) -> None:
    """Make a method available to :func:`explain_texts` and the command line."""
    METHODS[name] = spec


def _pad_baseline(ctx: ExplainContext) -> Tensor:
    # Captum users' usual reference for text: [CLS] [PAD] ... [PAD] [SEP].
    pad = ctx.tokenizer.pad_token_id or 0
    return torch.where(ctx.feature_mask >= 0, pad, ctx.input_ids)


register_method(
    "nlgp",
    MethodSpec(
        build=LayerNLGP,
        attribute_kwargs=lambda ctx: {
            "feature_mask": ctx.feature_mask,
            "seed": ctx.seed,
        },
        description="NLGP (MASE): normalized linear Gaussian perturbations",
    ),
)
register_method(
    "lig",
    MethodSpec(
        build=LayerIntegratedGradients,
        attribute_kwargs=lambda ctx: {"baselines": _pad_baseline(ctx)},
        description="Captum LayerIntegratedGradients, [PAD] baseline",
    ),
)


def load_classifier(path: Path) -> Tuple[Module, Any]:
    """A local Hugging Face sequence classifier and its tokenizer, in eval mode."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()

    if not Path(path).is_dir():
        raise FileNotFoundError(
            f"No model folder at {path}: pass --model or set CAPTUM_NLP_MODELS."
        )
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    return model, tokenizer


def explain_texts(
    model: Module,
    tokenizer: Any,
    texts: Sequence[str],
    methods: Sequence[str] = ("nlgp", "lig"),
    labels: Optional[Sequence[int]] = None,
    seed: int = 0,
    max_length: int = 128,
) -> Dict[str, List[VisualizationDataRecord]]:
    """Explain the predicted class of each text with each method.

    Args:
        model (Module): A Hugging Face sequence classifier.
        tokenizer (PreTrainedTokenizerFast): Its (fast) tokenizer.
        texts (sequence of str): The texts; whitespace-separated words are the
                    units explained.
        methods (sequence of str): Names registered in :data:`METHODS`.
                    Default: ("nlgp", "lig")
        labels (sequence of int, optional): Gold labels, shown beside the
                    prediction. Default: None
        seed (int): Seed for the methods that draw samples. Default: 0
        max_length (int): Truncation length in tokens. Default: 128

    Returns:
        For each method, one ``VisualizationDataRecord`` per text, ready for
        :func:`~captum_nlp_ext.attr.visualization.render_html`.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(
            f"`methods` has unknown names {unknown}; known: {sorted(METHODS)}."
        )
    # Whitespace words are the units: they match the datasets' word-level gold
    # (PTB tokens in SST, whitespace tokens in ERASER) one to one.
    encoding = tokenizer(
        [text.split() for text in texts],
        is_split_into_words=True,
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    feature_mask = word_feature_mask(encoding)
    forward = ClassifierForward(model, output="probs")
    input_ids, attention_mask = encoding["input_ids"], encoding["attention_mask"]
    with torch.no_grad():
        probs = forward(input_ids, attention_mask)
    predicted = probs.argmax(-1)
    ctx = ExplainContext(
        model, tokenizer, input_ids, attention_mask, feature_mask, predicted, seed
    )
    # Unit ids are word indices; a word the tokenizer dropped has no unit.
    words = [
        [split[j] for j in torch.unique(mask[mask >= 0]).tolist()]
        for split, mask in zip((text.split() for text in texts), feature_mask)
    ]
    gold = list(labels) if labels is not None else ["?"] * len(texts)
    layer = get_embedding_layer(model)
    records = {}
    for name in methods:
        spec = METHODS[name]
        attributions = spec.build(forward, layer).attribute(
            input_ids,
            target=predicted,
            additional_forward_args=(attention_mask,),
            **spec.attribute_kwargs(ctx),
        )
        records[name] = visualization_records(
            word_attributions(attributions, feature_mask),
            words,
            probs.gather(1, predicted.unsqueeze(1)).squeeze(1),
            predicted.tolist(),
            gold,
            predicted.tolist(),
        )
    return records
