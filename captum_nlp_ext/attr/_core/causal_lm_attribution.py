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
from captum_nlp_ext.attr._core.diffmask import DiffMask
from captum_nlp_ext.attr._core.layer_input_marginalization import (
    LayerInputMarginalization,
)
from captum_nlp_ext.attr._core.layer_lafa import LayerLAFA
from captum_nlp_ext.attr._core.layer_mask_optimization import LayerMaskOptimization
from captum_nlp_ext.attr._utils.llm_candidates import (
    CausalLMCandidates,
    predicted_tokens,
)
from captum_nlp_ext.attr._utils.llm_features import feature_attributions
from captum_nlp_ext.attr._utils.llm_lafa import prompt_lafa
from captum_nlp_ext.attr._utils.llm_prefix import PrefixCache
from captum_nlp_ext.attr._utils.llm_prompts import (
    prompt_units,
    PromptInput,
    PromptUnits,
)
from captum_nlp_ext.attr._utils.llm_removal import removal_inputs, RemovalInputs
from captum_nlp_ext.attr._utils.llm_scores import ContinuationScores, SCORES, ScoreType
from captum_nlp_ext.attr._utils.marginalization import TokenIds

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
CLASS_OBJECTIVES = (LayerMaskOptimization, LayerInputMarginalization)
#: What the model generates when no target is given (Captum's default).
DEFAULT_GEN_ARGS: Dict[str, Any] = {"max_new_tokens": 25, "do_sample": False}

TargetText = Union[None, str, Tensor]
#: ``baselines`` that replace each feature token by the model's own most
#: likely other token there, given the text on both sides.
PREDICTED = "predicted"


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
      ``baselines="predicted"`` (our methods and Captum's gradient methods)
      replaces each feature token instead by the model's own most likely
      other token there, given the text on both sides (the best of 8
      proposed from the left, weighed by the probability of the whole
      prompt): a language model never saw a padding token inside a text,
      and on a planted task learned as a language model the padding
      reference moved the answer wherever it stood
      (``benchmarks/llm/RESULTS.md``).
    - **Input marginalization**, whose candidates for a prompt word are the
      model's own predictions there (``mlm=CausalLMCandidates(model)``: no
      masked LM shares a causal LM's tokenizer); it reads the continuation
      as class 1 of two, as MaRC does.
    - **LAFA**, whose reference pool holds texts that could fill the
      prompt's features (a ``ReferenceIndex`` built on the causal LM, e.g.
      other reviews, each as it would read in the slots: with a leading space
      after "Review:"): a prompt's reference texts are the pool texts nearest
      to its feature text, each explained in the features' place with the
      same fixed text around it. The features must be one run of tokens.
    - **DiffMask** with input gates, fitted on a corpus of prompts (its
      gates keep the next-token distribution after each).
    - **Captum's feature methods** (FeatureAblation, ShapleyValueSampling,
      ShapleyValues, Lime, KernelShap): they perturb the prompt as Captum
      does (a slot becomes its baseline text), with Captum's scores, read
      in batches (``perturbations_per_eval``) that continue the fixed
      start's cache.

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
            if isinstance(attr_method, DiffMask) and attr_method.gate == "input":
                layer = attr_method._gated
            if layer is not self.embedding_layer:
                raise TypeError(
                    "`attr_method` must be one of Captum's feature methods "
                    f"({', '.join(c.__name__ for c in CAPTUM_FEATURE_METHODS)}) "
                    "or a layer method on model.get_input_embeddings(); got "
                    f"{type(attr_method).__name__} on "
                    f"{type(layer).__name__ if layer is not None else 'no layer'}."
                )
        if isinstance(attr_method, LayerInputMarginalization) and not (
            isinstance(attr_method.mlm, CausalLMCandidates)
            and attr_method.mlm.model is model
        ):
            raise TypeError(
                "Input marginalization on a causal LM takes its candidates from "
                "the model itself: build it with mlm=CausalLMCandidates(model); "
                f"got mlm {type(attr_method.mlm).__name__}."
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
                        ``n_samples``, ``seed``, ``baselines``; for an
                        embedding-layer method ``baselines="predicted"``
                        takes the model's own predictions, see above).

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
        # The prompt's fixed start: tokens before its first feature.
        fixed = int((prompt.feature_mask[0] >= 0).nonzero()[0])
        if self.feature_method:
            if isinstance(kwargs.get("baselines"), str):
                raise ValueError(
                    "`baselines='predicted'` is for embedding-layer methods; Captum's "
                    "feature methods take their baseline texts from the prompt input."
                )
            return feature_attributions(
                self.attr_method,
                inp,
                self.tokenizer,
                scores,
                per_token,
                kwargs,
                prompt.input_ids[0, :fixed] if self.reuse_prefix else None,
            )
        steps = scores.target_ids.numel()
        ids = torch.cat([prompt.input_ids[0].to(self._device), scores.target_ids])[None]
        mask = torch.cat([prompt.feature_mask[0], torch.full((steps,), -1)])[None].to(
            self._device
        )
        if self.reuse_prefix and fixed > 0:
            scores.prefix = PrefixCache(self.model, ids[:, :fixed])
            ids, mask = ids[:, fixed:], mask[:, fixed:]
        method = _bound_to(self.attr_method, self.model, scores)
        if isinstance(method, LayerLAFA):
            method = prompt_lafa(method, scores, ids, mask, self.tokenizer)
        if isinstance(method, LayerInputMarginalization):
            # The candidates' left context starts with the cached prefix.
            method.mlm = cast(CausalLMCandidates, method.mlm).after(
                scores.prefix, scores.n_rows_prompt
            )
        options = dict(kwargs)
        if (
            isinstance(inp, TextTokenInput)
            and "baselines" not in options
            and _takes(method, "baselines")
        ):
            options["baselines"] = inp.baselines
        pad = token_id("pad_token_id", None, self.tokenizer, self.model)
        if isinstance(options.get("baselines"), str):
            check_choice("baselines", options["baselines"], (PREDICTED,))
            options["baselines"] = self._predicted(ids, mask, scores, pad)
        if _takes(method, "feature_mask"):
            options["feature_mask"] = mask
        elif isinstance(options.get("baselines", None), (int, type(None))):
            # A gradient method's path moves only the features' tokens: to the
            # token given, else the padding token (as our methods' reference).
            token = options.get("baselines")
            if token is None:
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

    def _predicted(
        self, ids: Tensor, mask: Tensor, scores: ContinuationScores, pad: Optional[int]
    ) -> Tensor:
        """``baselines="predicted"``: each feature token replaced by the
        model's most likely other token there, given both sides."""
        candidates = CausalLMCandidates(self.model, both_sides=True).after(
            scores.prefix, scores.n_rows_prompt
        )
        vocab = cast(Any, self.embedding_layer).num_embeddings
        specials = list(self.tokenizer.all_special_ids)
        with torch.no_grad():
            return predicted_tokens(
                candidates,
                ids,
                mask,
                TokenIds(candidates.mask_token_id, pad, specials, vocab),
            )


def _takes(method: Attribution, argument: str) -> bool:
    """Whether ``method`` (or the method a noise tunnel wraps) takes
    ``argument``: ours group tokens by a ``feature_mask`` and Captum's layer
    gradient methods don't; input marginalization has no ``baselines``."""
    inner = getattr(method, "attribution_method", method)
    return argument in inspect.signature(inner.attribute).parameters


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
