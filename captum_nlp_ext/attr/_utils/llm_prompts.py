"""A Captum prompt (``TextTemplateInput`` or ``TextTokenInput``) as token ids and
the units our embedding-layer methods perturb.

Captum's LLM wrappers perturb a prompt by rewriting it (a template slot becomes
its baseline string, a token its baseline id) and tokenizing it again. Our
methods perturb embeddings, so they need each interpretable feature as the
token positions it covers: a template slot is the tokens whose characters
overlap the slot's text, and the fixed parts of the template (few-shot
demonstrations, instructions) belong to no unit, so they are never perturbed.
"""

import string
from dataclasses import dataclass
from typing import Any, List, Tuple, Union

import torch
from captum.attr import TextTemplateInput, TextTokenInput
from torch import Tensor

#: A causal LM's prompt, as Captum's LLM wrappers take it.
PromptInput = Union[TextTemplateInput, TextTokenInput]


@dataclass(frozen=True)
class PromptUnits:
    """A prompt as the model reads it and the features our methods perturb.

    Attributes:
        input_ids (Tensor): (1, tokens) the prompt's token ids, special tokens
                    included as the tokenizer adds them.
        feature_mask (Tensor): (1, tokens) the interpretable feature of each
                    token, -1 on tokens of no feature (fixed template text,
                    skipped tokens).
        n_features (int): Number of interpretable features (Captum's
                    ``n_itp_features``).
    """

    input_ids: Tensor
    feature_mask: Tensor
    n_features: int


def prompt_units(inp: PromptInput, tokenizer: Any) -> PromptUnits:
    """The token ids and feature mask of a Captum prompt.

    Args:
        inp (TextTemplateInput or TextTokenInput): The prompt.
        tokenizer: The causal LM's Hugging Face tokenizer (a fast one, with
                    offsets, for a ``TextTemplateInput``).

    Raises:
        TypeError: for another kind of input, or a callable template.
        ValueError: when a slot's text gives no token of its own.
    """
    if isinstance(inp, TextTokenInput):
        units = _token_units(inp)
    elif isinstance(inp, TextTemplateInput):
        units = _template_units(inp, tokenizer)
    else:
        raise TypeError(
            "`inp` must be a captum.attr.TextTemplateInput or TextTokenInput; got "
            f"{type(inp).__name__}."
        )
    if units.n_features == 0:
        raise ValueError(
            "`inp` has no feature to score (every token skipped, or no value): "
            "there is nothing to explain."
        )
    return units


def _token_units(inp: TextTokenInput) -> PromptUnits:
    ids = inp.inp_tensor.long()
    if inp.itp_mask is None:
        mask = torch.arange(ids.shape[1]).unsqueeze(0)
    else:
        keep = inp.itp_mask.bool()
        mask = torch.full_like(ids, -1)
        mask[keep] = torch.arange(int(keep.sum()))
    return PromptUnits(ids, mask, inp.n_itp_features)


def _slot_spans(inp: TextTemplateInput) -> Tuple[str, List[Tuple[int, int]]]:
    """The formatted prompt and the character span of each value."""
    template = inp.template
    if not isinstance(template, str):
        raise TypeError(
            "CausalLMAttribution needs a TextTemplateInput with a str template: "
            "the characters of each slot must be known to find its tokens (a "
            "callable template can reorder or repeat values). Give a str "
            "template, or a TextTokenInput."
        )
    by_key = dict(zip(inp.dict_keys, range(len(inp.values))))
    text, spans, auto = "", [(-1, -1)] * len(inp.values), 0
    for literal, field, spec, conversion in string.Formatter().parse(template):
        text += literal
        if field is None:
            continue
        if spec or conversion:
            raise ValueError(
                "The template's fields must be plain `{}` or `{name}` slots (no "
                f"conversion or format spec); got {{{field}!{conversion}:{spec}}}."
            )
        if field == "":
            index, auto = auto, auto + 1
        elif field.isdigit():
            index = int(field)
        else:
            index = by_key[field]
        if spans[index][0] >= 0:
            raise ValueError(
                f"The template uses value {field or index} twice; each value "
                "must fill one slot, whose tokens are its feature."
            )
        value = inp.values[index]
        spans[index] = (len(text), len(text) + len(value))
        text += value
    return text, spans


def _template_units(inp: TextTemplateInput, tokenizer: Any) -> PromptUnits:
    text, spans = _slot_spans(inp)
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(
            "`tokenizer` must be a fast Hugging Face tokenizer (it gives the "
            "character offsets that place a template's slots on tokens)."
        )
    encoded = tokenizer(text, return_offsets_mapping=True, return_tensors="pt")
    ids = encoded["input_ids"].long()
    offsets = encoded["offset_mapping"][0].tolist()
    features = inp.formatted_mask if inp.mask is not None else range(len(inp.values))
    mask = torch.full_like(ids, -1)
    for (start, end), feature in zip(spans, features):
        if start == end:
            continue
        for position, (t_start, t_end) in enumerate(offsets):
            # A token that reaches into the slot belongs to it (a leading space
            # of fixed text merged into the slot's first word, for instance).
            if t_start < end and t_end > start and t_end > t_start:
                mask[0, position] = feature
    missing = set(features) - set(mask[mask >= 0].tolist())
    if missing:
        raise ValueError(
            f"Features {sorted(missing)} of the template cover no token (an empty "
            "value, or one merged into a neighbour's token): give each slot text "
            "of its own."
        )
    return PromptUnits(ids, mask, inp.n_itp_features)
