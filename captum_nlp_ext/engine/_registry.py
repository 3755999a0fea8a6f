"""The method registry: what a method gets (:class:`MethodContext`), what it
is (:class:`MethodSpec`) and the one table of registered methods."""

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.batching import DEFAULT_INTERNAL_BATCH_SIZE
from captum_nlp_ext._utils.random import example_seed
from captum_nlp_ext._utils.tokens import token_id
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    kept_word_ids,
    WindowedClassifier,
)

FAMILIES = ("ours", "captum", "baseline")
KINDS = ("perturbation", "gradient", "learned", "random")
RESOURCES = ("mlm", "reference_index", "diffmask")
#: The resources built from a data set's training texts (``--reference-pool``).
TEXT_RESOURCES = frozenset({"reference_index", "diffmask"})


@dataclass(frozen=True)
class MethodContext:
    """What a method gets for one batch of texts.

    Attributes:
        model (Module): The classifier (a Hugging Face sequence classifier, or a
                    wrapper with ``get_input_embeddings()`` such as
                    :class:`~captum_nlp_ext.huggingface.WindowedClassifier`).
        tokenizer (PreTrainedTokenizerBase): Its tokenizer (special ids).
        input_ids (Tensor): (batch, tokens) token ids, right-padded.
        attention_mask (Tensor): (batch, tokens).
        feature_mask (Tensor): (batch, tokens) word ids, -1 for special tokens
                    and padding.
        target (Tensor): (batch,) the class explained.
        seed (int): The run's seed; example ``i`` draws from
                    ``example_seed(seed, example_ids[i])`` (:attr:`example_seeds`).
                    Default: 0
        budget (int): Model evaluations per example of the perturbation
                    methods. Default: 128
        token_type_ids (Tensor, optional): (batch, tokens) segments of text
                    pairs. Default: None
        example_ids (Tensor, optional): (batch,) the examples' numbers in
                    their data set (with ``seed``, their seeds). Default: None
                    (0..batch-1)
        resources (Mapping): Built resources, by name (see :data:`RESOURCES`).
        internal_batch_size (int): Rows per model pass. Default: 64
        options (Mapping): Settings that override the spec's defaults.
        windowed (bool): Whether ``model`` runs long inputs through windows.
                    Default: False
    """

    model: Module
    tokenizer: Any
    input_ids: Tensor
    attention_mask: Tensor
    feature_mask: Tensor
    target: Tensor
    seed: int = 0
    budget: int = 128
    token_type_ids: Optional[Tensor] = None
    example_ids: Optional[Tensor] = None
    resources: Mapping[str, Any] = field(default_factory=dict)
    internal_batch_size: int = DEFAULT_INTERNAL_BATCH_SIZE
    options: Mapping[str, Any] = field(default_factory=dict)
    windowed: bool = False

    @property
    def additional_forward_args(self) -> Tuple[Tensor, ...]:
        """``(attention_mask,)``, plus ``token_type_ids`` for pairs."""
        if self.token_type_ids is None:
            return (self.attention_mask,)
        return (self.attention_mask, self.token_type_ids)

    def forward(self, output: str = "logits") -> ClassifierForward:
        return ClassifierForward(self.model, output=output)

    @property
    def layer(self) -> Module:
        """The token embedding table, the layer every method explains."""
        return get_embedding_layer(self.model)

    @property
    def words(self) -> Tensor:
        """(batch,) number of words of each example."""
        return torch.tensor(
            [len(kept) for kept in kept_word_ids(self.feature_mask)], dtype=torch.long
        )

    def baseline_ids(self, token: str = "pad") -> Tensor:
        """The input with every word's tokens replaced by the tokenizer's
        [PAD] (or [MASK]) token; special tokens kept."""
        chosen = token_id(f"{token}_token_id", tokenizer=self.tokenizer)
        if chosen is None:
            chosen = token_id(
                "pad_token_id", tokenizer=self.tokenizer, model=self.model
            )
        return torch.where(
            self.feature_mask >= 0, 0 if chosen is None else chosen, self.input_ids
        )

    @property
    def gradient_rows_per_pass(self) -> int:
        """Rows a pass with gradients may hold: ``internal_batch_size`` inputs,
        or, through windows, inputs of ``internal_batch_size`` windows in all
        (every window's activations are kept for the backward pass, and a
        whole review can be a dozen windows; BENCHMARKS.md has the memory).
        Without gradients nothing is kept, and bigger calls let the windowed
        classifier pass repeated windows once, so those keep
        ``internal_batch_size``."""
        model = self.model
        if not (self.windowed and isinstance(model, WindowedClassifier)):
            return self.internal_batch_size
        windows = int(model.count_windows(self.input_ids, self.attention_mask).max())
        return max(1, self.internal_batch_size // windows)

    def captum_feature_mask(self) -> Tensor:
        """Words as Captum features; specials and padding one more feature."""
        extra = int(self.feature_mask.max()) + 1
        return torch.where(self.feature_mask >= 0, self.feature_mask, extra)

    def example(self, row: int) -> "MethodContext":
        """The context of example ``row`` alone, cut to its own length."""
        length = int(self.attention_mask[row].nonzero().max()) + 1

        def cut(t: Tensor) -> Tensor:
            return t[row : row + 1, :length]

        return replace(
            self,
            input_ids=cut(self.input_ids),
            attention_mask=cut(self.attention_mask),
            feature_mask=cut(self.feature_mask),
            token_type_ids=(
                None if self.token_type_ids is None else cut(self.token_type_ids)
            ),
            target=self.target[row : row + 1],
            example_ids=self.example_ids_or_range()[row : row + 1],
        )

    @property
    def example_seeds(self) -> List[int]:
        """One seed per example, from the run's seed and the example's number:
        an example's draws are the same whichever batch, process or machine
        explains it."""
        ids = self.example_ids_or_range().tolist()
        return [example_seed(self.seed, i) for i in ids]

    def example_ids_or_range(self) -> Tensor:
        if self.example_ids is not None:
            return self.example_ids
        return torch.arange(self.input_ids.shape[0])


@dataclass(frozen=True)
class MethodSpec:
    """How to run one attribution method on a Hugging Face classifier.

    Attributes:
        run (Callable): ``(MethodContext, settings) -> Tensor`` of (batch,
                    tokens) token attributions, signed (positive = evidence for
                    the target), excluded tokens 0; or a pair of them and
                    (batch,) convergence estimates (NLGP's), which ``explain``
                    and the report show. ``settings`` are
                    :attr:`defaults` updated with the context's options.
        description (str): One line for listings and reports.
        family (str): ``"ours"``, ``"captum"`` or ``"baseline"``.
        kind (str): ``"perturbation"``, ``"gradient"``, ``"learned"`` (read
                    from a model trained to explain itself) or ``"random"``.
        defaults (dict): The method's settings (recorded in ``run.json``).
        budget_rule (str): How the shared budget sets the method's number of
                    model evaluations (recorded); empty when it does not.
        needs (tuple of str): Resources it needs, from :data:`RESOURCES`.
        windows (bool): Whether it runs through a windowed classifier (long
                    documents); methods that need the whole input within the
                    model's length do not.
        check_model (Callable, optional): ``model -> None`` that raises a
                    ValueError, with what the method needs, for a model it
                    cannot explain; run before any example. Default: None
        signed (bool): Whether its scores carry a sign (evidence against the
                    target negative); unsigned ones (a gradient norm, a
                    mask) are marked in the report, since removal metrics
                    then count counter-evidence as evidence. Default: True
        signed_by (str): The boolean setting that makes an unsigned method's
                    scores signed (LAFA's ``signed``); empty when none.
                    Default: ""
        min_budget (int): The least budget the method runs with (NLGP fits
                    a regression: 2 samples at least); a run's ``budget`` is
                    checked against it before anything runs. Default: 1
    """

    run: Callable[[MethodContext, Dict[str, Any]], Union[Tensor, Tuple[Tensor, Tensor]]]
    description: str
    family: str
    kind: str
    defaults: Dict[str, Any] = field(default_factory=dict)
    budget_rule: str = ""
    needs: Tuple[str, ...] = ()
    windows: bool = True
    check_model: Optional[Callable[[Module], None]] = None
    signed: bool = True
    signed_by: str = ""
    min_budget: int = 1

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"`family` must be one of {FAMILIES}; got {self.family!r}")
        if self.kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}; got {self.kind!r}")
        unknown = set(self.needs) - set(RESOURCES)
        if unknown:
            raise ValueError(f"`needs` has unknown resources {sorted(unknown)}")

    def settings(self, options: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """The defaults updated with ``options`` (unknown names are an error)."""
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"unknown settings {unknown}; this method has {sorted(self.defaults)}"
            )
        return {**self.defaults, **options}

    def record(self, options: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """The method's entry of ``run.json``'s ``method_settings``."""
        settings = self.settings(options)
        if self.budget_rule:
            settings["budget_rule"] = self.budget_rule
        signed = self.signed or bool(self.signed_by and settings.get(self.signed_by))
        return {
            "description": self.description,
            "family": self.family,
            "kind": self.kind,
            "signed": signed,
            "settings": settings,
        }

    def attribute(self, ctx: MethodContext) -> Tensor:
        """Run the method on ``ctx``: (batch, tokens) float attributions."""
        return self.explain(ctx)[0]

    def explain(self, ctx: MethodContext) -> Tuple[Tensor, Optional[Tensor]]:
        """Run the method on ``ctx``: (batch, tokens) float attributions and,
        for a method whose ``run`` also returns one, its (batch,) convergence
        estimates (None otherwise)."""
        if ctx.windowed and not self.windows:
            raise ValueError(
                "this method needs inputs within the model's length and cannot run "
                "through a windowed classifier"
            )
        missing = [name for name in self.needs if name not in ctx.resources]
        if missing:
            raise ValueError(f"this method needs the resources {missing}")
        result = self.run(ctx, self.settings(ctx.options))
        attributions, convergence = (
            result if isinstance(result, tuple) else (result, None)
        )
        if attributions.dim() == 3:
            attributions = attributions.sum(-1)
        included = ctx.feature_mask >= 0
        attributions = (attributions.detach().float() * included).to(torch.float32)
        if convergence is not None:
            convergence = convergence.detach().float()
        return attributions, convergence


METHODS: Dict[str, MethodSpec] = {}


def register_method(name: str, spec: MethodSpec) -> None:
    """Make a method available to the benchmark, ``explain`` and the command
    line under ``name``."""
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"`spec` must be a MethodSpec; got {type(spec).__name__}.")
    METHODS[name] = spec


def check_method_options(
    methods: Sequence[str], method_options: Optional[Mapping[str, Mapping[str, Any]]]
) -> Dict[str, Dict[str, Any]]:
    """Each method's settings overrides, checked: every named method is run,
    and every setting is one of its own."""
    unknown = sorted(set(method_options or {}) - set(methods))
    if unknown:
        raise ValueError(
            f"`method_options` names methods not in the run: {unknown} (the run's: "
            f"{', '.join(methods)})."
        )
    options = {name: dict((method_options or {}).get(name, {})) for name in methods}
    for name, given in options.items():
        try:
            METHODS[name].settings(given)
        except ValueError as error:
            raise ValueError(f"`method_options` of {name!r}: {error}") from None
    return options


def check_methods(names: Any, model: Optional[Module] = None) -> List[str]:
    """Validate a list of method names against :data:`METHODS`, and, with
    ``model``, that each method can explain it (its spec's ``check_model``)."""
    names = list(names)
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise ValueError(
            f"`methods` has unknown names {unknown}; known: {sorted(METHODS)}."
            if unknown
            else "`methods` is empty."
        )
    for name in names:
        check = METHODS[name].check_model
        if model is not None and check is not None:
            try:
                check(model)
            except ValueError as error:
                raise ValueError(f"method {name!r}: {error}") from None
    return names
