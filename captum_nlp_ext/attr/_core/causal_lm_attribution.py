"""Our methods, and Captum's, on a causal language model's prompt, used as
Captum's ``LLMAttribution`` is used."""

import inspect
from copy import copy
from typing import Any, cast, Dict, List, Optional, Union

import torch
from captum.attr import (
    Attribution,
    FeatureAblation,
    KernelShap,
    Lime,
    LLMAttributionResult,
    ShapleyValues,
    ShapleyValueSampling,
    TextTokenInput,
)
from captum.log import log_usage
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.hooks import eval_mode
from captum_nlp_ext._utils.tokens import token_id
from captum_nlp_ext._utils.units import build_units, Units
from captum_nlp_ext._utils.validation import check_choice
from captum_nlp_ext.attr._core.layer_mask_optimization import LayerMaskOptimization
from captum_nlp_ext.attr._utils.llm_features import feature_attributions
from captum_nlp_ext.attr._utils.llm_prefix import PrefixCache
from captum_nlp_ext.attr._utils.llm_prompts import (
    prompt_units,
    PromptInput,
    PromptUnits,
)
from captum_nlp_ext.attr._utils.llm_removal import removal_inputs, RemovalInputs
from captum_nlp_ext.attr._utils.llm_scores import ContinuationScores, SCORES, ScoreType

#: Captum's perturbation methods, which perturb the interpretable features of
#: the prompt (a slot becomes its baseline text) rather than its embeddings.
CAPTUM_FEATURE_METHODS = (
    FeatureAblation,
    ShapleyValueSampling,
    ShapleyValues,
    Lime,
    KernelShap,
)
#: Our methods whose objective reads a classifier's distribution over
#: classes: they explain the continuation as class 1 of two (see
#: ``ContinuationScores(two_classes=True)``).
CLASS_OBJECTIVES = (LayerMaskOptimization,)
#: What the model generates when no target is given (Captum's default).
DEFAULT_GEN_ARGS: Dict[str, Any] = {"max_new_tokens": 25, "do_sample": False}

TargetText = Union[None, str, Tensor]


class CausalLMAttribution(Attribution):
    r"""Attributions of a causal language model's continuation to the parts of
    its prompt, by any of our embedding-layer methods or Captum's, with the
    call and the result of Captum's ``LLMAttribution``.

    Captum's ``LLMAttribution`` and ``LLMGradientAttribution`` accept a fixed
    tuple of Captum classes (an ``isinstance`` check) and call the model once
    per perturbed prompt, so they cannot take our methods. This wrapper takes
    the same prompts (``TextTemplateInput``, whose fixed text is never
    perturbed, and ``TextTokenInput``), the same targets (a given
    continuation, or the model's own greedy generation), and returns Captum's
    ``LLMAttributionResult``, so that ``plot_seq_attr`` and
    ``plot_token_attr`` work. It adds what Captum's wrapper lacks: a contrast
    between two continuations (:math:`\log p(a) - \log p(b)`, for prompted
    classification), a callable score, and batched perturbed passes.

    Two kinds of method are taken:

    - **Embedding-layer methods**, built on the causal LM and its input
      embedding layer: ours (``LayerNLGP``, ``LayerMaskOptimization``,
      ``EmbeddingNoiseTunnel``...) and Captum's layer gradient methods
      (``LayerIntegratedGradients``, ``LayerGradientXActivation``...). They
      perturb the embeddings of a feature's tokens; the tokens of no feature
      and the continuation keep theirs. A gradient method's baseline moves
      only the features' tokens (to ``baselines``, a token id; by default
      the padding token, as our methods' reference, else id 0).
    - **Captum's feature methods** (FeatureAblation, ShapleyValueSampling,
      ShapleyValues, Lime, KernelShap): they perturb the prompt as Captum
      does (a slot becomes its baseline text) and the model reads each
      perturbed prompt on its own, as in Captum.

    The per-output-token matrix (``token_attr``, one row per target token)
    comes from the same perturbed passes for ``LayerNLGP`` (its ridge fit has
    one column per output); other methods run one attribution per target
    token, as Captum's gradient wrapper does, when ``per_token=True``.
    """

    def __init__(
        self,
        attr_method: Attribution,
        tokenizer: Any,
        *,
        attr_target: ScoreType = "log_prob",
        reuse_prefix: bool = True,
    ) -> None:
        r"""
        Args:
            attr_method (Attribution): The method, built on the causal LM
                        itself (its ``forward_func`` is the model, as for
                        Captum's wrappers), and for a layer method on
                        ``model.get_input_embeddings()``.
            tokenizer: The model's Hugging Face tokenizer (a fast one for
                        a ``TextTemplateInput``: its offsets place the slots).
            attr_target (str or Callable): What is explained:
                        ``"log_prob"`` (the target's log-probability, the sum
                        over its tokens), ``"prob"`` (its probability), or a
                        callable mapping the (rows, T) log-probabilities of the
                        target's tokens to (rows,) scores.
                        Default: "log_prob"
            reuse_prefix (bool): Run the prompt's tokens before its first
                        feature (fixed instructions, few-shot demonstrations)
                        once per explanation and share their key/value cache
                        among the perturbed copies of an embedding-layer
                        method (the same attributions to float tolerance).
                        Default: True
        """
        model = getattr(attr_method, "forward_func", None)
        if not isinstance(model, Module) or not callable(
            getattr(model, "get_input_embeddings", None)
        ):
            raise TypeError(
                "`attr_method` must be built on the causal LM itself (a Hugging "
                "Face ...ForCausalLM as its forward_func), as for Captum's "
                f"LLMAttribution; got forward_func {type(model).__name__}."
            )
        if isinstance(attr_target, str):
            check_choice("attr_target", attr_target, SCORES)
        elif not callable(attr_target):
            raise TypeError(
                "`attr_target` must be 'log_prob', 'prob' or a callable; got "
                f"{type(attr_target).__name__}."
            )
        self.embedding_layer: Module = cast(Any, model).get_input_embeddings()
        self.feature_method = isinstance(attr_method, CAPTUM_FEATURE_METHODS)
        if not self.feature_method:
            layer = getattr(attr_method, "layer", None)
            if layer is not self.embedding_layer:
                raise TypeError(
                    "`attr_method` must be one of Captum's feature methods "
                    f"({', '.join(c.__name__ for c in CAPTUM_FEATURE_METHODS)}) "
                    "or a layer method on model.get_input_embeddings(); got "
                    f"{type(attr_method).__name__} on "
                    f"{type(layer).__name__ if layer is not None else 'no layer'}."
                )
        super().__init__(model)
        self.model: Module = model
        self.attr_method = attr_method
        self.tokenizer = tokenizer
        self.attr_target = attr_target
        self.reuse_prefix = reuse_prefix

    @log_usage()
    def attribute(
        self,
        inp: PromptInput,
        target: TargetText = None,
        *,
        contrast: TargetText = None,
        gen_args: Optional[Dict[str, Any]] = None,
        per_token: Optional[bool] = None,
        **kwargs: Any,
    ) -> LLMAttributionResult:
        r"""
        Args:
            inp (TextTemplateInput or TextTokenInput): The prompt; its
                        interpretable features are what gets scores.
            target (str or Tensor, optional): The continuation explained, as
                        text or (T,) token ids. None explains the model's own
                        generation with ``gen_args``.
                        Default: None
            contrast (str or Tensor, optional): A second continuation: the
                        score becomes :math:`\log p(\text{target}) - \log
                        p(\text{contrast})` (``attr_target="prob"``: the
                        difference of probabilities), e.g. " positive" against
                        " negative". Needs ``target``.
                        Default: None
            gen_args (dict, optional): ``model.generate`` arguments when
                        ``target`` is None.
                        Default: None (greedy, 25 new tokens, as Captum)
            per_token (bool, optional): Whether to compute ``token_attr``, one
                        row per target token. None computes it where it costs
                        no extra passes (``LayerNLGP``, or a one-token target).
                        Not for a contrast or a callable ``attr_target``.
                        Default: None
            **kwargs: Options of the wrapped method's ``attribute`` (e.g.
                        ``n_samples``, ``seed``, ``baselines``).

        Returns:
            **result** (*LLMAttributionResult*): ``seq_attr`` (features,),
            ``token_attr`` (target tokens, features) or None, the features'
            values as ``input_tokens`` and the target's tokens as
            ``output_tokens``; ``output_probs`` are the target tokens'
            probabilities given the unperturbed prompt.
        """
        prompt = prompt_units(inp, self.tokenizer)
        if gen_args is not None and target is not None:
            raise ValueError("`gen_args` is for target=None (the model generates).")
        if contrast is not None and target is None:
            raise ValueError("`contrast` needs a `target` to contrast it with.")
        with eval_mode(self.model):
            target_ids = self._target_ids(target, prompt, gen_args)
            contrast_ids = (
                None if contrast is None else self._text_ids(contrast, "contrast")
            )
            scores = ContinuationScores(
                self.model,
                self.embedding_layer,
                prompt.input_ids.shape[1],
                target_ids,
                self.attr_target,
                contrast_ids,
                two_classes=isinstance(self.attr_method, CLASS_OBJECTIVES),
            )
            if per_token and not scores.per_token:
                raise ValueError(
                    "`per_token=True` needs attr_target 'log_prob' or 'prob' and no "
                    "`contrast`: their score is not a sum over target tokens."
                )
            if per_token is None:
                per_token = scores.per_token and (
                    target_ids.numel() == 1
                    or hasattr(self.attr_method, "_attribute_outputs")
                )
            attributions = self._attribute(prompt, scores, inp, per_token, kwargs)
            with torch.no_grad():
                full = torch.cat([prompt.input_ids[0], target_ids])[None]
                probs = ContinuationScores(
                    self.model, self.embedding_layer, scores.n_prompt, target_ids
                )(full.to(self._device))[0, 1:].exp()
        attributions = inp.format_attr(attributions.detach().cpu())
        return LLMAttributionResult(
            seq_attr=attributions[0],
            token_attr=attributions[1:] if per_token else None,
            input_tokens=list(inp.values),
            output_tokens=[self.tokenizer.decode([i]) for i in target_ids.tolist()],
            output_probs=probs.cpu(),
            inp=inp,
        )

    def removal_inputs(
        self,
        inp: PromptInput,
        seq_attr: Tensor,
        target: Union[str, Tensor],
        *,
        contrast: TargetText = None,
    ) -> RemovalInputs:
        r"""An explanation in the shape every removal metric takes, so that
        a generation is scored as a classification is::

            result = explainer.attribute(inp, target=" positive", contrast=" negative")
            scored = explainer.removal_inputs(inp, result.seq_attr, " positive",
                                              contrast=" negative")
            aopc_comprehensiveness(**scored.metric_kwargs, removal=Removal("pad", ...))

        Args:
            inp (TextTemplateInput or TextTokenInput): The explained prompt.
            seq_attr (Tensor): (values,) its scores (the result's ``seq_attr``,
                        or any other method's for the same prompt).
            target (str or Tensor): The continuation explained.
            contrast (str or Tensor, optional): Its contrast, if it had one.
                        Default: None

        Returns:
            **inputs** (*RemovalInputs*): the model reads the prompt and the
            target and answers with two classes: class 1 the target, class 0
            everything else (or the contrast), so a metric's "probability of
            the target" is the target's probability (or its share of the two
            continuations'). Only prompt features are removed; choose a
            ``removal`` that keeps positions (``"pad"``, ``"unk"``, ``"mask"``).
        """
        prompt = prompt_units(inp, self.tokenizer)
        scores = ContinuationScores(
            self.model,
            self.embedding_layer,
            prompt.input_ids.shape[1],
            self._text_ids(target, "target"),
            self.attr_target if isinstance(self.attr_target, str) else "log_prob",
            None if contrast is None else self._text_ids(contrast, "contrast"),
            two_classes=True,
        )
        return removal_inputs(inp, prompt, seq_attr, scores)

    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _text_ids(self, text: Union[str, Tensor], name: str) -> Tensor:
        if isinstance(text, str):
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            tensor = torch.tensor(ids, dtype=torch.long)
        elif isinstance(text, Tensor) and not text.is_floating_point():
            tensor = text.reshape(-1).long()
        else:
            raise TypeError(
                f"`{name}` must be a str or a tensor of token ids; got "
                f"{type(text).__name__}."
            )
        if tensor.numel() == 0:
            raise ValueError(f"`{name}` gives no token.")
        return tensor.to(self._device)

    def _target_ids(
        self, target: TargetText, prompt: PromptUnits, gen_args: Optional[Dict]
    ) -> Tensor:
        if target is not None:
            return self._text_ids(target, "target")
        generate = getattr(self.model, "generate", None)
        if not callable(generate):
            raise ValueError("The model cannot generate: give `target`.")
        ids = prompt.input_ids.to(self._device)
        settings = {**DEFAULT_GEN_ARGS, **(gen_args or {})}
        with torch.no_grad():
            output = generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), **settings
            )
        return output[0, ids.shape[1] :]

    def _attribute(
        self,
        prompt: PromptUnits,
        scores: ContinuationScores,
        inp: PromptInput,
        per_token: bool,
        kwargs: Dict[str, Any],
    ) -> Tensor:
        """(1 [+ T], features) attributions of the score [and of each token]."""
        if self.feature_method:
            return feature_attributions(
                self.attr_method, inp, self.tokenizer, scores, per_token, kwargs
            )
        steps = scores.target_ids.numel()
        ids = torch.cat([prompt.input_ids[0].to(self._device), scores.target_ids])[None]
        mask = torch.cat([prompt.feature_mask[0], torch.full((steps,), -1)])[None].to(
            self._device
        )
        fixed = int((prompt.feature_mask[0] >= 0).nonzero()[0])
        if self.reuse_prefix and fixed > 0:
            scores.prefix = PrefixCache(self.model, ids[:, :fixed])
            ids, mask = ids[:, fixed:], mask[:, fixed:]
        method = _bound_to(self.attr_method, self.model, scores)
        options = dict(kwargs)
        if isinstance(inp, TextTokenInput) and "baselines" not in options:
            options["baselines"] = inp.baselines
        if _takes_feature_mask(method):
            options["feature_mask"] = mask
        elif isinstance(options.get("baselines", None), (int, type(None))):
            # A gradient method's path moves only the features' tokens: to the
            # token given, else the padding token (as our methods' reference).
            token = options.get("baselines")
            if token is None:
                pad = token_id("pad_token_id", None, self.tokenizer, self.model)
                token = 0 if pad is None else pad
            options["baselines"] = torch.where(mask >= 0, token, ids)
        units = build_units(mask, 1, ids.shape[1], ids.device)
        if per_token and hasattr(method, "_attribute_outputs"):
            token_scores = method._attribute_outputs(ids, **options)[0]
            return _unit_scores(token_scores, units, "mean")
        rows: List[Tensor] = []
        columns = range(1 + steps) if per_token else [1 if scores.two_classes else 0]
        for column in columns:
            out = method.attribute(ids, target=column, **options)
            out = out[0] if isinstance(out, tuple) else out
            pool = "sum" if out.dim() == 3 else "mean"
            rows.append(
                _unit_scores(out.sum(-1) if out.dim() == 3 else out, units, pool)
            )
        return torch.cat(rows)


def _takes_feature_mask(method: Attribution) -> bool:
    """Whether ``method`` (or the method a noise tunnel wraps) groups tokens
    by a ``feature_mask``, as ours do; Captum's layer gradient methods don't."""
    inner = getattr(method, "attribution_method", method)
    return "feature_mask" in inspect.signature(inner.attribute).parameters


def _unit_scores(token_scores: Tensor, units: Units, pool: str) -> Tensor:
    """(rows, tokens) -> (rows, features): a feature's score from its tokens
    (``"mean"``: each token carries the unit's score; ``"sum"``: a gradient
    method's per-token shares)."""
    rows = token_scores.shape[0]
    # One prompt's units, the same for every row (output): pooled in one call.
    every_row = Units(units.index.expand(rows, -1), units.count.expand(rows))
    return every_row.pool(token_scores.detach(), pool)


def _bound_to(method: Attribution, model: Module, forward: Any) -> Attribution:
    """A shallow copy of ``method`` (and of the methods inside it, e.g. a
    noise tunnel's or LayerIntegratedGradients' IntegratedGradients) whose
    forward function is ``forward`` where it was ``model``."""
    clone = copy(method)
    if clone.forward_func is model:
        clone.forward_func = forward
    for name, value in list(vars(clone).items()):
        if isinstance(value, Attribution) and value is not method:
            setattr(clone, name, _bound_to(value, model, forward))
    return clone
