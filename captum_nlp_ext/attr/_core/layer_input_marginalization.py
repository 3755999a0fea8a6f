"""Input marginalization: erase a token by marginalizing it out with a masked
language model, and measure the change as a weight of evidence."""

import math
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

import torch
from captum.attr import LayerAttribution, PerturbationAttribution
from captum.log import log_usage
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.batching import DEFAULT_INTERNAL_BATCH_SIZE, evaluate_rows
from captum_nlp_ext._utils.checks import (
    check_finite,
    check_layer_output,
    check_model_call,
    vocabulary_size,
)
from captum_nlp_ext._utils.deprecation import keyword_only_after, moved_to_constructor
from captum_nlp_ext._utils.hooks import eval_mode, forward_with_layer_output
from captum_nlp_ext._utils.outputs import logits_to_probabilities
from captum_nlp_ext._utils.targets import resolve_target, select_target, TargetType
from captum_nlp_ext._utils.tokens import first_token_id
from captum_nlp_ext._utils.units import build_units, Units
from captum_nlp_ext._utils.validation import (
    check_choice,
    check_float,
    check_inputs,
    check_int,
    check_optional_int,
    format_additional_forward_args,
    match_inputs_format,
)
from captum_nlp_ext.attr._utils.marginalization import (
    Candidates,
    CandidateSelection,
    check_token_id,
    DEFAULT_MLM_BATCH_SIZE,
    log2_odds,
    MaskedUnits,
    mlm_vocab_size,
    propose,
    TokenIds,
    vocab_mismatch,
)

OUTPUTS = ("logits", "probs")


class LayerInputMarginalization(LayerAttribution, PerturbationAttribution):
    r"""Input marginalization (IM) of Kim, Yi, Kim and Yoon, "Interpretation of
    NLP Models through Input Marginalization", EMNLP 2020.

    Erasing a token (replacing it by zeros, [PAD] or [UNK]) feeds the model an
    input it never saw in training. IM instead *marginalizes* the token out with
    a masked language model (MLM): the token is masked, the MLM proposes
    candidates :math:`v` with probabilities :math:`p_{MLM}(v \mid x_{-i})`, and
    the classifier is evaluated on every candidate sentence:

    .. math::
        p(c \mid x_{-i}) = \sum_v p_{MLM}(v \mid x_{-i})\, p(c \mid x_{i := v}),
        \qquad
        a_i = \log_2 \frac{p(c \mid x)}{1 - p(c \mid x)}
            - \log_2 \frac{p(c \mid x_{-i})}{1 - p(c \mid x_{-i})}.

    The attribution :math:`a_i` is a weight of evidence in bits; positive means
    the token supports the target class :math:`c`. Probabilities are clamped to
    [1e-7, 1 - 1e-7] before taking log-odds.

    **Candidates.** The MLM's distribution at a masked position is renormalized
    over the tokens that may be candidates: special tokens never are (nor, with
    ``keep_original=False``, the original token). A candidate is kept while its
    probability exceeds ``threshold`` (1e-5, as the reimplementations of the
    paper), it is among the ``top_k`` most likely, and the mass kept before it
    is below ``mass`` (of the candidates' total); the most likely candidate is
    always kept. The kept probabilities are renormalized to sum to 1.
    Whether the paper keeps the original token is not known; by default it is
    kept (``keep_original=True``): the marginal then runs over every value the
    MLM allows, as the formula is written. The classifier is not run again on a
    candidate equal to the original input: its probability is
    :math:`p(c \mid x)`, already known.

    **Words.** A unit of several tokens (a word split into pieces, grouped by
    ``feature_mask``) is masked as a whole and replaced as a whole, keeping the
    sequence length so that attention masks and other arguments stay valid.
    The MLM's joint distribution over the pieces is approximated by the product
    of its per-piece distributions, all pieces masked at once (a mean-field
    approximation; one MLM pass a unit); the most likely combinations are found
    by a beam search over the pieces that keeps ``word_beam_size`` of them, and
    ``threshold``, ``top_k`` and ``mass`` apply to the products. For
    single-token units this is exactly the paper's formula.

    **Layer.** IM substitutes token ids, so ``inputs`` must be ids and the
    layer's output is not altered: ``layer`` (the classifier's token embedding
    layer, as for Captum's layer methods) is used to check that
    ``forward_func`` embeds the ids through it and that its vocabulary is the
    MLM's. A vocabulary mismatch is refused: the MLM's candidates would be
    other tokens for the classifier.

    **Cost.** One MLM pass per unit, all masked copies of a batch in batches of
    ``mlm_batch_size``; one classifier pass per (unit, candidate), all of them
    packed into internal batches across units and examples. With a weak MLM the
    distributions are flat and the 1e-5 threshold keeps thousands of
    candidates a token; ``mass`` and ``top_k`` bound the cost, and change the
    result. In our SST-2 benchmark with a small MLM (311 tokens of 40 dev
    sentences against the thresholded result), ``top_k=200`` needed 25 times
    fewer classifier passes and ranked a sentence's tokens at Spearman 0.95 on
    average, ``top_k=50`` 100 times fewer at 0.91, and ``mass=0.75`` 5 times
    fewer at 0.89; ``benchmarks/im/RESULTS.md``.

    Critique: Pham, Bui, Mai and Nguyen, "Double Trouble: How to not explain a
    text classifier's decisions using counterfactuals synthesized by masked
    language models?", AACL 2022, show that IM gives near-zero scores to words
    the MLM predicts well, whatever the classifier; judge it with
    deletion-based metrics and the model-randomization check too.
    """

    @keyword_only_after(4)
    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: Module,
        mlm: Callable[..., Any],
        *,
        mask_token_id: Optional[int] = None,
        special_token_ids: Optional[Iterable[int]] = None,
        pad_token_id: Optional[int] = None,
        tokenizer: Any = None,
        output: str = "logits",
        mlm_batch_size: Optional[int] = None,
        device_ids: Union[None, List[int]] = None,
    ) -> None:
        r"""
        Args:
            forward_func (Callable): The classifier's forward function. It takes
                        token ids and then ``additional_forward_args`` and returns
                        (batch, classes) scores, (batch,) scores of one class, or
                        a Hugging Face ``ModelOutput`` with ``logits``; see
                        ``output``.
            layer (torch.nn.Module): The classifier's token embedding layer: an
                        ``nn.Embedding``, or an embedding block with a
                        ``word_embeddings`` table (BERT's ``embeddings``). Its
                        number of embeddings must equal the MLM's vocabulary
                        size. See
                        :func:`captum_nlp_ext.huggingface.get_embedding_layer`.
            mlm (Callable): The masked language model: a Hugging Face
                        ``AutoModelForMaskedLM``, or any callable
                        ``mlm(input_ids, attention_mask)`` returning
                        (batch, tokens, vocabulary) logits or log-probabilities
                        (or a ``ModelOutput`` with ``logits``). A module is run
                        in eval mode during ``attribute`` and its mode restored.
            mask_token_id (int, optional): The MLM's mask token.
                        Default: None (the tokenizer's, then the MLM config's;
                        an error if neither has one)
            special_token_ids (iterable of int, optional): Tokens that are
                        never candidates. The mask and pad tokens always are.
                        Default: None (the tokenizer's special tokens, else the
                        pad, bos, eos, sep and cls ids of the MLM's config)
            pad_token_id (int, optional): Padding token; the MLM's attention
                        mask is 0 on it.
                        Default: None (the tokenizer's, then the MLM config's;
                        if neither, the MLM attends to every position)
            tokenizer (PreTrainedTokenizerBase, optional): The tokenizer of the
                        classifier and MLM; supplies the defaults above.
                        Default: None
            output (str): What ``forward_func`` returns: ``"logits"`` (softmax
                        over classes is applied; sigmoid to a single score) or
                        ``"probs"`` (class probabilities, used as they are).
                        Default: "logits"
            mlm_batch_size (int, optional): Masked copies per MLM pass.
                        Default: None (32)
            device_ids (list[int], optional): Device IDs for a DataParallel
                        model, as in Captum's layer methods.
                        Default: None
        """
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        PerturbationAttribution.__init__(self, forward_func)
        if not callable(mlm):
            raise TypeError(
                "`mlm` must be a masked language model or a callable "
                f"(input_ids, attention_mask) -> logits; got {type(mlm).__name__}."
            )
        self.mlm = mlm
        self.mlm_batch_size = mlm_batch_size
        self._check_mlm_batch_size()
        self.output = check_choice("output", output, OUTPUTS)
        size = vocabulary_size(layer, None)
        if size is None:
            raise TypeError(
                "`layer` must be the classifier's token embedding layer (an "
                "nn.Embedding, or a block with a `word_embeddings` table) so that "
                "its vocabulary can be checked against the MLM's; got "
                f"{type(layer).__name__}."
            )
        self.vocab_size = size
        mlm_vocab = mlm_vocab_size(mlm)
        if mlm_vocab is not None and mlm_vocab != self.vocab_size:
            raise ValueError(vocab_mismatch(self.vocab_size, mlm_vocab))
        config = getattr(mlm, "config", None)
        mask_id = first_token_id(
            "mask_token_id",
            mask_token_id,
            getattr(tokenizer, "mask_token_id", None),
            getattr(config, "mask_token_id", None),
        )
        if mask_id is None:
            raise ValueError(
                "The MLM has no mask token: pass `mask_token_id`, or a `tokenizer` "
                "with a mask token (a causal LM: mlm=CausalLMCandidates(model))."
            )
        self.mask_token_id: int = mask_id
        self.pad_token_id = first_token_id(
            "pad_token_id",
            pad_token_id,
            getattr(tokenizer, "pad_token_id", None),
            getattr(config, "pad_token_id", None),
        )
        if special_token_ids is None:
            if tokenizer is not None:
                special_token_ids = getattr(tokenizer, "all_special_ids", [])
            else:
                names = ("pad", "bos", "eos", "sep", "cls")
                found = [getattr(config, f"{name}_token_id", None) for name in names]
                special_token_ids = [t for t in found if isinstance(t, int)]
        specials = {self.mask_token_id}
        if self.pad_token_id is not None:
            specials.add(
                check_token_id("pad_token_id", self.pad_token_id, self.vocab_size)
            )
        for token in special_token_ids:
            if token is not None:
                specials.add(
                    check_token_id("special_token_ids", token, self.vocab_size)
                )
        check_token_id("mask_token_id", self.mask_token_id, self.vocab_size)
        self.special_token_ids = sorted(specials)

    def _check_mlm_batch_size(self) -> None:
        # Also for a deprecated per-call value (moved_to_constructor).
        check_optional_int("mlm_batch_size", self.mlm_batch_size, 1)

    @property
    def multiplies_by_inputs(self) -> bool:
        return False

    def has_convergence_delta(self) -> bool:
        return False

    @log_usage()
    @moved_to_constructor("mlm_batch_size", check="_check_mlm_batch_size")
    @keyword_only_after(5)
    def attribute(
        self,
        inputs: Union[Tensor, Tuple[Tensor]],
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Optional[Tensor] = None,
        *,
        threshold: float = 1e-5,
        top_k: Optional[int] = None,
        mass: Optional[float] = None,
        keep_original: bool = True,
        word_beam_size: int = 64,
        internal_batch_size: Optional[int] = None,
        show_progress: bool = False,
        return_passes: bool = False,
    ) -> Union[Tensor, Tuple[Tensor], Tuple[Any, Dict[str, int]]]:
        r"""
        Args:
            inputs (Tensor or tuple[Tensor]): Token ids (batch, tokens); a
                        one-tensor tuple gives a tuple back. Examples of
                        different lengths are padded; padding and special tokens
                        are excluded by default (see ``feature_mask``).
            target (int, list[int], Tensor, optional): Class to explain for each
                        example. None explains the predicted class (or the single
                        score of a (batch,) output).
                        Default: None
            additional_forward_args (Any, optional): Further positional
                        arguments of ``forward_func`` (an attention mask, for
                        instance); tensors with the batch as first dimension are
                        expanded with the perturbed copies.
                        Default: None
            feature_mask (Tensor, optional): (batch, tokens) or (1, tokens)
                        integer unit ids; tokens that share an id are masked and
                        replaced together and share one score; negative ids are
                        excluded (score 0). Build one with
                        :func:`captum_nlp_ext.huggingface.word_feature_mask`.
                        Default: None (every token is a unit, except special
                        tokens and padding, which a language model cannot
                        sensibly replace)
            threshold (float): Keep candidates whose MLM probability exceeds
                        this, in [0, 1).
                        Default: 1e-5
            top_k (int, optional): Keep at most this many candidates a unit.
                        Default: None (no limit)
            mass (float, optional): Stop adding candidates (most likely first)
                        once the kept probability reaches this fraction of the
                        candidates' total, in (0, 1].
                        Default: None (no limit)
            keep_original (bool): Whether the original token (word) may be a
                        candidate.
                        Default: True
            word_beam_size (int): Combinations kept by the beam search over the
                        pieces of a multi-token unit; bounds its candidates.
                        Default: 64
            internal_batch_size (int, optional): Candidate sentences per
                        classifier pass (those of several units and examples
                        share a pass).
                        Default: None (64)
            show_progress (bool): Show progress bars over MLM and classifier
                        passes.
                        Default: False
            return_passes (bool): Also return the work done, a dict with
                        ``classifier_rows`` and ``classifier_passes`` (sentences
                        and calls of ``forward_func``, the unperturbed pass
                        included), ``mlm_rows`` and ``mlm_passes``, and
                        ``candidates`` (all kept candidates, those equal to the
                        original input included).
                        Default: False

        Returns:
            **attributions** or 2-element tuple of **attributions**, **passes**:
            - **attributions** (*Tensor*): (batch, tokens) weights of evidence in
              bits, float64; each token carries its unit's score, excluded
              tokens 0.
            - **passes** (*dict*, returned if return_passes=True): see
              ``return_passes``.

        Examples::

            >>> classifier = AutoModelForSequenceClassification.from_pretrained(a)
            >>> mlm = AutoModelForMaskedLM.from_pretrained(b)
            >>> im = LayerInputMarginalization(
            ...     ClassifierForward(classifier),
            ...     get_embedding_layer(classifier),
            ...     mlm,
            ...     tokenizer=tokenizer,
            ... )
            >>> enc = tokenizer(texts, padding=True, return_tensors="pt")
            >>> attributions = im.attribute(
            ...     enc["input_ids"],
            ...     additional_forward_args=(enc["attention_mask"],),
            ...     feature_mask=word_feature_mask(enc),
            ...     top_k=50,
            ... )
        """
        given_inputs = inputs
        inputs = check_inputs(inputs)
        if inputs.is_floating_point():
            raise TypeError(
                "`inputs` must be token ids (batch, tokens): input marginalization "
                "substitutes tokens proposed by the MLM; got floating point "
                f"{tuple(inputs.shape)}."
            )
        args = format_additional_forward_args(additional_forward_args, inputs)
        check_float("threshold", threshold, 0.0, 1.0, True, False)
        check_optional_int("top_k", top_k, 1)
        if mass is not None:
            check_float("mass", mass, 0.0, 1.0)
        if not isinstance(keep_original, bool):
            raise TypeError(
                f"`keep_original` must be a bool; got {type(keep_original).__name__}."
            )
        check_int("word_beam_size", word_beam_size, 1)
        check_optional_int("internal_batch_size", internal_batch_size, 1)
        check_model_call(
            self.forward_func, self.layer, inputs, "LayerInputMarginalization"
        )
        selection = CandidateSelection(
            threshold, top_k, mass, keep_original, word_beam_size
        )

        with torch.no_grad():
            output, embedded = forward_with_layer_output(
                self.forward_func, self.layer, inputs, args
            )
            check_layer_output(embedded, inputs, hidden=False)
            check_finite(output, "The model's output")
            target_ = resolve_target(target, output)
            original = self._probability(output, target_, check=True)
            units = self._units(feature_mask, inputs)
            masked = MaskedUnits(inputs, units)
            with eval_mode(self.mlm):
                candidates = propose(
                    self.mlm,
                    inputs,
                    masked,
                    selection,
                    TokenIds(
                        self.mask_token_id,
                        self.pad_token_id,
                        self.special_token_ids,
                        self.vocab_size,
                    ),
                    self.mlm_batch_size,
                    show_progress,
                )
            scores, evaluated = self._classify(
                inputs,
                args,
                masked,
                candidates,
                original,
                target_,
                internal_batch_size,
                show_progress,
            )
            marginal = torch.zeros(masked.count, dtype=torch.float64).to(scores)
            marginal.index_add_(0, candidates.unit, candidates.weight * scores)
            woe = log2_odds(original)[masked.example] - log2_odds(marginal)
            per_unit = torch.zeros(
                units.count.shape[0], units.max_units, dtype=torch.float64
            ).to(woe)
            per_unit[masked.example, masked.unit] = woe
            check_finite(per_unit, "The weight of evidence")
            attributions = match_inputs_format(given_inputs, units.to_tokens(per_unit))
        if not return_passes:
            return attributions
        size = internal_batch_size or DEFAULT_INTERNAL_BATCH_SIZE
        mlm_size = self.mlm_batch_size or DEFAULT_MLM_BATCH_SIZE
        passes = {
            "classifier_rows": inputs.shape[0] + evaluated,
            "classifier_passes": 1 + math.ceil(evaluated / size),
            "mlm_rows": masked.count,
            "mlm_passes": math.ceil(masked.count / mlm_size),
            "candidates": candidates.unit.numel(),
        }
        return attributions, passes

    def _classify(
        self,
        inputs: Tensor,
        args: Tuple,
        masked: "MaskedUnits",
        candidates: "Candidates",
        original: Tensor,
        target: Optional[Tensor],
        internal_batch_size: Optional[int],
        show_progress: bool,
    ) -> Tuple[Tensor, int]:
        """The target probability of every candidate sentence, and how many
        were evaluated (a candidate equal to the input reuses its pass)."""
        scores = original[masked.example[candidates.unit]].clone()
        evaluated = (~candidates.equals_original(masked)).nonzero().flatten()
        if evaluated.numel() == 0:
            return scores, 0
        row_example = masked.example[candidates.unit[evaluated]]
        raw = evaluate_rows(
            self.forward_func,
            inputs,
            args,
            row_example,
            None,
            internal_batch_size,
            show_progress,
            "IM classifier",
            input_rows=lambda rows: candidates.sentences(
                inputs, masked, evaluated[rows]
            ),
        )
        rows_target = None if target is None else target[row_example]
        scores[evaluated] = self._probability(raw, rows_target)
        return scores, int(evaluated.numel())

    def _units(self, feature_mask: Optional[Tensor], inputs: Tensor) -> Units:
        batch, tokens = inputs.shape
        if feature_mask is None:
            specials = torch.tensor(self.special_token_ids, device=inputs.device)
            ordinary = ~torch.isin(inputs, specials)
            empty = (~ordinary.any(dim=1)).nonzero().flatten().tolist()
            if empty:
                raise ValueError(
                    f"`inputs` example(s) {empty} hold only special tokens: nothing "
                    "to marginalize (pass a `feature_mask` to choose units)."
                )
            positions = torch.arange(tokens, device=inputs.device).expand_as(inputs)
            feature_mask = torch.where(ordinary, positions, -1)
        return build_units(feature_mask, batch, tokens, inputs.device)

    def _probability(
        self, output: Tensor, target: Optional[Tensor], check: bool = False
    ) -> Tensor:
        """The target class's probability, float64, one per row."""
        scores = output.to(torch.float64)
        if self.output == "logits":
            scores = logits_to_probabilities(scores)
        elif check and bool(((scores < 0) | (scores > 1)).any()):
            raise ValueError(
                "`forward_func` returned values outside [0, 1] but `output` is "
                "'probs'; use output='logits' for unnormalized scores."
            )
        return select_target(scores, target)
