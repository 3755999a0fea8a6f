"""LAFA: Locally Aggregated Feature Attribution over a model's embedding layer."""

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from captum.attr import GradientAttribution, LayerAttribution
from captum.log import log_usage
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.checks import (
    check_finite,
    check_layer_output,
    check_model_call,
)
from captum_nlp_ext._utils.deprecation import (
    grouped_into,
    keyword_only_after,
    renamed_arguments,
)
from captum_nlp_ext._utils.hooks import (
    autograd_enabled,
    forward_with_layer_output,
    frozen_parameters,
    model_of,
    outside_inference,
)
from captum_nlp_ext._utils.targets import resolve_target, TargetType
from captum_nlp_ext._utils.units import build_units
from captum_nlp_ext._utils.validation import (
    check_choice,
    check_float,
    check_int,
    check_optional_int,
    format_additional_forward_args,
    match_inputs_format,
)
from captum_nlp_ext.attr._core.reference_index import Neighbours, ReferenceIndex
from captum_nlp_ext.attr._utils.lafa import (
    aggregate,
    attended_spans,
    base_gradients_of,
    BaseSettings,
    check_token_ids,
    forward_name,
    input_attention_mask,
    KERNELS,
    normalized,
    reference_scores,
    signed_base,
)
from captum_nlp_ext.attr._utils.reference_scores import ReferenceScores
from captum_nlp_ext.attr._utils.reference_search import NeighbourSearch

BASES = ("saliency", "smoothgrad", "integrated_gradients")

# The neighbour search moved into ``search``; until 0.3 the constructor still
# takes its four knobs, by name or at their old positions.
_SEARCH = ("n_neighbours", "quantile", "same_class", "exclude_duplicates")
_POSITIONAL_ORDER = (
    "base",
    "kernel",
    "lam",
    *_SEARCH,
    "normalize",
    "length_scale",
    "signed",
    "device_ids",
)


class LayerLAFA(LayerAttribution, GradientAttribution):
    r"""Locally Aggregated Feature Attribution (LAFA) of Zhang, Wang, Jiang and
    Song, "Locally Aggregated Feature Attribution on Natural Language Model
    Understanding", NAACL 2022 (arXiv 2204.10893).

    LAFA smooths a gradient attribution with *similar texts* instead of noise or
    an artificial reference token. For a text :math:`X_0`:

    1. its reference texts :math:`X_\text{sim}` are up to ``n_neighbours``
       nearest texts of a :class:`ReferenceIndex` (pooled hidden states of one
       layer of the explained model), closer than a quantile of the pool's
       pairwise distances, optionally predicted as the explained class, and never
       :math:`X_0` itself;
    2. every token :math:`t` of :math:`X_0` and of each neighbour gets a base
       score, the squared norm of the gradient of the target output with respect
       to the token's embedding (the output of ``layer``),
       :math:`m_t = \sum_j (\partial F / \partial h_{tj})^2`; the gradient comes
       from Captum's :class:`~captum.attr.Saliency`, its SmoothGrad average over
       noisy embeddings, or :class:`~captum.attr.IntegratedGradients` (``base``;
       for Integrated Gradients the token's attribution vector replaces the
       gradient, zero embeddings as baseline);
    3. the scores of the neighbours' tokens are aggregated onto the tokens of
       :math:`X_0` with a kernel :math:`K` on their embeddings:

       .. math::
           M(X_0)_t = m_{0,t} + \lambda\, E(w_t), \quad
           E(w) = \frac{1}{|X_\text{sim}|} \sum_{i \in X_\text{sim}}
           \frac{1}{T_i} \sum_{k=1}^{T_i} m_{i,k}\, K(h_w, h_{i,k}),

       with :math:`T_i` the number of word tokens of neighbour :math:`i` (special
       tokens and padding are not counted). Without neighbours,
       :math:`M(X_0) = m_0`.

    Kernels (``kernel``), on the embedding-layer outputs :math:`a, b`:
    ``"indicator"`` :math:`1[\text{same token id}]`; ``"rbf"``
    :math:`\exp(-\lVert a-b\rVert_2 / l^2)`; ``"laplacian"``
    :math:`\exp(-\lVert a-b\rVert_1 / l^2)` (:math:`l` = ``length_scale``, the
    paper's 2); ``"cubic"`` :math:`(7\, a \cdot b)^3`; ``"cosine"``; ``"l2"``
    :math:`1 / \text{clip}(\lVert a-b\rVert_2, 0.3, 3)`, all as the paper
    writes them.

    Defaults are the paper's SST setting: 10 neighbours within the 0.39
    quantile of pairwise distances, of the same predicted class, SmoothGrad
    base, indicator kernel, :math:`\lambda = 0.44` (the index's default layer is
    2 with mean pooling).

    The paper adds raw squared gradients of different texts, whose scales
    differ by orders of magnitude; ``normalize=True`` (our option) first divides
    each text's scores by their sum. On SST with the shared MiniLM classifier
    neither reading beat its base method (``benchmarks/lafa/RESULTS.md``).

    LAFA's scores are unsigned (squared norms): a word that argues against
    the target scores as high as one that argues for it, and removal metrics
    count it as evidence. ``signed=True`` (our extension) gives each unit the
    sign of its signed base (gradient x input, or the Integrated Gradients
    attribution) and keeps LAFA's magnitude.

    Units: with ``feature_mask`` the scores :math:`M_t` of a unit's tokens are
    summed (the base score is additive over a word's sub-tokens, and so is the
    aggregation); each token of the unit carries that sum, excluded tokens 0.

    The reference texts are fed to ``forward_func`` as ``(input_ids,
    attention_mask)`` (the convention of
    :class:`~captum_nlp_ext.huggingface.ClassifierForward`), with the explained
    target of their query. ``inputs`` must therefore be token ids, and the first
    of ``additional_forward_args``, if any, the attention mask.

    Cost per example: the base method (1 gradient pass, ``n_samples`` for
    SmoothGrad, ``n_steps`` for Integrated Gradients) on the text and on each of
    its neighbours; neighbours shared by examples of a batch are computed once.
    """

    @keyword_only_after(4, order=_POSITIONAL_ORDER)
    @grouped_into("search", NeighbourSearch, *_SEARCH)
    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: Module,
        index: ReferenceIndex,
        *,
        base: str = "smoothgrad",
        kernel: str = "indicator",
        lam: float = 0.44,
        search: Optional[NeighbourSearch] = None,
        normalize: bool = False,
        length_scale: float = 2.0,
        signed: bool = False,
        device_ids: Union[None, List[int]] = None,
    ) -> None:
        r"""
        Args:
            forward_func (Callable): The model's forward function, called as
                        ``forward_func(input_ids, *additional_forward_args)`` for
                        the explained texts and ``forward_func(input_ids,
                        attention_mask)`` for their reference texts; it returns
                        (batch, classes) or (batch,) scores or a ``ModelOutput``.
            layer (torch.nn.Module): The embedding layer, output (batch, tokens,
                        hidden): gradients are taken with respect to its output,
                        and kernels compare its output rows.
                        See :func:`captum_nlp_ext.huggingface.get_embedding_layer`.
            index (ReferenceIndex): The reference pool, built with the model
                        behind ``forward_func``.
            base (str): Base gradient: ``"saliency"`` (the paper's
                        SimpleGrad), ``"smoothgrad"`` or
                        ``"integrated_gradients"`` (zero-embedding baseline).
                        Default: "smoothgrad"
            kernel (str): One of ``"indicator"``, ``"rbf"``, ``"cubic"``,
                        ``"cosine"``, ``"laplacian"``, ``"l2"``.
                        Default: "indicator"
            lam (float): Weight :math:`\lambda` >= 0 of the aggregated
                        neighbour scores; 0 gives the base method.
                        Default: 0.44
            search (NeighbourSearch, optional): Which pool texts are a
                        text's reference texts (how many, how close, which
                        class; see :class:`NeighbourSearch`).
                        Default: None (``NeighbourSearch()``)
            normalize (bool): Divide each text's base scores by their sum over
                        its words (for the explained text: its tokens in a unit,
                        attended) before aggregating, so that every reference
                        text weighs the same. Raw squared gradients differ by
                        orders of magnitude between texts (a confident
                        prediction has small gradients), and without this the
                        least confident neighbours dominate :math:`E`. The
                        paper does not normalize (as far as it says); this is
                        our option.
                        Default: False
            length_scale (float): :math:`l` of the RBF and Laplacian kernels.
                        Default: 2.0
            signed (bool): Give each unit the sign of its signed base (our
                        extension, not the paper's): the sum over its tokens of
                        gradient x input (Saliency; SmoothGrad: the mean
                        gradient) or of the Integrated Gradients attribution;
                        the magnitude stays LAFA's :math:`M`. Removal metrics
                        then see words that argue against the target as such.
                        Default: False (the paper's unsigned scores)
            device_ids (list[int], optional): Device IDs for a DataParallel
                        model, as in Captum's layer methods.
                        Default: None
        """
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        GradientAttribution.__init__(self, forward_func)
        if not isinstance(index, ReferenceIndex):
            raise TypeError(
                "`index` must be a ReferenceIndex (ReferenceIndex.build or .load); "
                f"got {type(index).__name__}."
            )
        self.index = index
        self.base = check_choice("base", base, BASES)
        self.kernel = check_choice("kernel", kernel, KERNELS)
        self.lam = check_float("lam", lam, 0.0, low_inclusive=True)
        if search is None:
            search = NeighbourSearch()
        elif not isinstance(search, NeighbourSearch):
            raise TypeError(
                f"`search` must be a NeighbourSearch; got {type(search).__name__}."
            )
        self.search = search
        self.max_distance = (
            None
            if search.quantile is None
            else index.distance_quantile(search.quantile)
        )
        self.normalize = bool(normalize)
        self.length_scale = check_float("length_scale", length_scale, 0.0)
        self.signed = bool(signed)
        model = model_of(forward_func)
        if model is not None:
            index.check_model(model)
        self._local_scores: Dict[str, ReferenceScores] = {}

    @property
    def multiplies_by_inputs(self) -> bool:
        return self.base == "integrated_gradients"

    def has_convergence_delta(self) -> bool:
        return False

    @log_usage()
    @renamed_arguments(noise_level="stdevs")
    @keyword_only_after(5)
    def attribute(
        self,
        inputs: Union[Tensor, Tuple[Tensor]],
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Optional[Tensor] = None,
        *,
        n_samples: int = 25,
        stdevs: float = 0.1,
        n_steps: int = 50,
        internal_batch_size: Optional[int] = None,
        show_progress: bool = False,
        seed: Optional[int] = None,
    ) -> Union[Tensor, Tuple[Tensor, ...]]:
        r"""
        Args:
            inputs (Tensor or tuple[Tensor]): Token ids (batch, tokens);
                        examples of different lengths are padded (exclude the
                        padding with ``feature_mask``).
            target (int, list[int], Tensor, optional): Class to explain for each
                        example; its reference texts are explained for the same
                        class. None explains the predicted class.
                        Default: None
            additional_forward_args (Any, optional): Further positional
                        arguments of ``forward_func``; the first, if any, must be
                        the (batch, tokens) attention mask.
                        Default: None
            feature_mask (Tensor, optional): (batch, tokens) or (1, tokens)
                        integer unit ids; a unit's token scores are summed;
                        negative ids are excluded (score 0). Build one with
                        :func:`captum_nlp_ext.huggingface.word_feature_mask`.
                        Default: None (every token is a unit)
            n_samples (int): Noisy copies per text for ``base="smoothgrad"``.
                        Default: 25 (the paper's)
            stdevs (float): Standard deviation of SmoothGrad's Gaussian
                        noise as a fraction of the range (max - min) of the
                        text's embedding-layer output over its attended tokens
                        (Smilkov et al.'s convention).
                        Default: 0.1
            n_steps (int): Integration steps for
                        ``base="integrated_gradients"``.
                        Default: 50
            internal_batch_size (int, optional): Texts (or noisy copies) per
                        gradient pass.
                        Default: None (64)
            show_progress (bool): Show progress bars over gradient passes.
                        Default: False
            seed (int, optional): Seed of SmoothGrad's noise. With a seed, an
                        example gets the same attributions alone or in a batch.
                        Default: None (torch's global generator)

        Returns:
            **attributions** (*Tensor* or *tuple[Tensor]*): (batch, tokens);
            each token carries its unit's LAFA score, excluded tokens 0. A
            one-tensor tuple of inputs gets a one-tensor tuple, as in Captum.

        Examples::

            >>> index = ReferenceIndex.build(model, train_texts, tokenizer)
            >>> lafa = LayerLAFA(
            ...     ClassifierForward(model), get_embedding_layer(model), index
            ... )
            >>> enc = tokenizer(texts, padding=True, return_tensors="pt")
            >>> attributions = lafa.attribute(
            ...     enc["input_ids"],
            ...     additional_forward_args=(enc["attention_mask"],),
            ...     feature_mask=word_feature_mask(enc),
            ...     seed=0,
            ... )
        """
        given_inputs = inputs
        inputs = check_token_ids(inputs)
        args = format_additional_forward_args(additional_forward_args, inputs)
        check_int("n_samples", n_samples, 1)
        check_float("stdevs", stdevs, 0.0, low_inclusive=True)
        check_int("n_steps", n_steps, 1)
        check_optional_int("internal_batch_size", internal_batch_size, 1)
        check_model_call(self.forward_func, self.layer, inputs, "LayerLAFA")
        settings = BaseSettings(
            self.base,
            n_samples,
            stdevs,
            n_steps,
            internal_batch_size,
            show_progress,
            seed,
        )
        with autograd_enabled():
            attributions = self._attribute(
                outside_inference(inputs),
                outside_inference(args),
                target,
                feature_mask,
                settings,
            )
        return match_inputs_format(given_inputs, attributions)

    def _attribute(
        self,
        inputs: Tensor,
        args: Tuple,
        target: TargetType,
        feature_mask: Optional[Tensor],
        settings: "BaseSettings",
    ) -> Tensor:
        attention_mask = input_attention_mask(self.forward_func, inputs, args)
        batch, tokens = inputs.shape
        with torch.no_grad():
            output, embeddings = forward_with_layer_output(
                self.forward_func, self.layer, inputs, args
            )
        check_layer_output(embeddings, inputs)
        check_finite(output, "The model's output")
        target_ = resolve_target(target, output)
        units = build_units(feature_mask, batch, tokens, inputs.device)
        # lam = 0 is the base method: no reference text is needed.
        neighbours = (
            self._select(inputs, attention_mask, target_) if self.lam > 0 else None
        )
        with frozen_parameters(model_of(self.forward_func)):
            gradients = base_gradients_of(
                self.forward_func,
                self.layer,
                inputs,
                args,
                embeddings,
                attention_mask,
                target_,
                settings,
            )
            scores = gradients.pow(2).sum(-1)
            signs = (
                signed_base(gradients, embeddings, self.base) if self.signed else None
            )
            del gradients
            if self.normalize:
                scores = normalized(scores, units.included & (attention_mask > 0))
            if neighbours is not None and bool((neighbours.indices >= 0).any()):
                references = reference_scores(
                    self.forward_func,
                    self.layer,
                    self.index,
                    neighbours.indices.to(inputs.device),
                    target_,
                    settings,
                    self.normalize,
                    embeddings_needed=self.kernel != "indicator",
                    kept=self._kept_scores(settings),
                )
                scores = aggregate(
                    scores,
                    embeddings,
                    inputs,
                    *references,
                    kernel=self.kernel,
                    lam=self.lam,
                    length_scale=self.length_scale,
                )
        unit_scores = units.pool(scores, "sum")
        if signs is not None:
            # A unit whose signed base is exactly 0 keeps LAFA's sign (+).
            unit_scores = torch.where(
                units.pool(signs, "sum") < 0, -unit_scores, unit_scores
            )
        attributions = units.to_tokens(unit_scores)
        check_finite(attributions, "LAFA's gradients")
        return attributions.to(embeddings.dtype)

    def _kept_scores(self, settings: BaseSettings) -> Optional[ReferenceScores]:
        """Where the neighbours' base scores of this setting are kept: in the
        index (saved with it) when the setting can be named, i.e. a seeded
        base, the layer a module of the index's model and ``forward_func``
        that model or its :class:`ClassifierForward`; in this object when only
        the layer or the forward function cannot be named; nowhere without a
        seed (each call draws new noise)."""
        if settings.seed is None:
            return None
        parts = [f"base={settings.base}", f"seed={settings.seed}"]
        if settings.base == "smoothgrad":
            parts += [f"n_samples={settings.n_samples}", f"stdevs={settings.stdevs!r}"]
        if settings.base == "integrated_gradients":
            parts.append(f"n_steps={settings.n_steps}")
        layer = next(
            (n for n, m in self.index.model.named_modules() if m is self.layer), None
        )
        forward = forward_name(self.forward_func, self.index.model)
        if layer is None or forward is None:
            return self._local_scores.setdefault(";".join(parts), ReferenceScores())
        parts += [f"layer={layer}", f"forward={forward}"]
        return self.index.scores_for(";".join(parts))

    def neighbours(
        self,
        inputs: Tensor,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> Neighbours:
        """The reference texts that :meth:`attribute` uses for each example.

        Args:
            inputs (Tensor): Token ids (batch, tokens).
            target (int, list[int], Tensor, optional): As in :meth:`attribute`.
                        Default: None
            additional_forward_args (Any, optional): As in :meth:`attribute`.
                        Default: None

        Returns:
            :class:`Neighbours`: (batch, n_neighbours) positions in the index
            (-1 where fewer qualify) and their distances; read a text's tokens
            with ``index.input_ids[i]``.
        """
        inputs = check_token_ids(inputs)
        args = format_additional_forward_args(additional_forward_args, inputs)
        attention_mask = input_attention_mask(self.forward_func, inputs, args)
        with torch.no_grad():
            output = forward_with_layer_output(
                self.forward_func, self.layer, inputs, args
            )[0]
        return self._select(inputs, attention_mask, resolve_target(target, output))

    def _select(
        self, inputs: Tensor, attention_mask: Tensor, target: Optional[Tensor]
    ) -> Neighbours:
        search = self.search
        if search.same_class and target is None:
            raise ValueError(
                "`same_class=True` needs class scores: `forward_func` returns one "
                "score per example; construct LayerLAFA with "
                "search=NeighbourSearch(same_class=False)."
            )
        # Each text is encoded at its own length: batched with padding, its
        # vector moves by float rounding, enough to swap near-tied neighbours
        # and so to make an example's LAFA scores depend on its batch.
        vectors = torch.cat(
            [
                self.index.encode(
                    inputs[i : i + 1, span], attention_mask[i : i + 1, span]
                )[0]
                for i, span in enumerate(attended_spans(attention_mask))
            ]
        )
        return self.index.search(
            vectors,
            search.n_neighbours,
            max_distance=self.max_distance,
            classes=target if search.same_class else None,
            exclude_ids=inputs if search.exclude_duplicates else None,
            exclude_mask=attention_mask,
        )
