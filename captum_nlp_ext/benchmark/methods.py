"""The one registry of attribution methods: ours, Captum's and a random floor.

A method is a :class:`MethodSpec` registered under the name users type
(``nlgp``, ``lig``, ...). The spec says how to run the method on a batch of a
Hugging Face classifier (:class:`MethodContext` in, (batch, tokens) token
attributions out: signed, positive = evidence for the target, excluded tokens
0), what it is (family, kind), its settings for ``run.json``, the resources it
needs (the masked language model, a :class:`ReferenceIndex`) and how the shared
perturbation ``budget`` (model evaluations per example) maps to its arguments.
:func:`~captum_nlp_ext.explain.explain_texts`, the ``captum-nlp`` command line
and :func:`~captum_nlp_ext.benchmark.runner.run_benchmark` all read
:data:`METHODS`; a new method joins them with :func:`register_method`.

Conventions shared by every spec:

- Captum's perturbation methods act on token ids with Captum's feature masks,
  which must cover every token: the words are the features, and the special
  tokens and padding form one more feature whose baseline is itself (so it is
  never changed).
- Sampling methods are seeded: ours take ``seed``; Captum's samplers draw from
  torch's (and numpy's) global generators, which are seeded with ``seed`` for
  each example and restored afterwards. Every example gets the same seed, the
  convention of our methods, so an example's scores do not depend on its batch.
- Methods whose cost depends on the example's number of words (Shapley
  sampling, input marginalization) and Captum's samplers run one example at a
  time, cut to its own length.
"""

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

import numpy as np
import torch
from captum._utils.models.model import Model
from captum.attr import (
    FeatureAblation,
    GradientShap,
    KernelShap,
    LayerGradientXActivation,
    LayerIntegratedGradients,
    Lime,
    ShapleyValueSampling,
)
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.hooks import forward_with_layer_replaced
from captum_nlp_ext.attr import (
    LayerInputMarginalization,
    LayerLAFA,
    LayerMaskOptimization,
    LayerNLGP,
    ReferenceIndex,
)
from captum_nlp_ext.huggingface import (
    ClassifierForward,
    get_embedding_layer,
    kept_word_ids,
)

FAMILIES = ("ours", "captum", "baseline")
KINDS = ("perturbation", "gradient", "random")
RESOURCES = ("mlm", "reference_index")


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
        seed (int): Seed of the sampling methods. Default: 0
        budget (int): Model evaluations per example of the perturbation
                    methods. Default: 128
        token_type_ids (Tensor, optional): (batch, tokens) segments of text
                    pairs. Default: None
        example_ids (Tensor, optional): (batch,) the examples' indices in their
                    data set (the random baseline's seeds). Default: None
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
    internal_batch_size: int = 64
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
        token_id = getattr(self.tokenizer, f"{token}_token_id", None)
        if token_id is None:
            token_id = self.tokenizer.pad_token_id or 0
        return torch.where(self.feature_mask >= 0, token_id, self.input_ids)

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
                    the target), excluded tokens 0. ``settings`` are
                    :attr:`defaults` updated with the context's options.
        description (str): One line for listings and reports.
        family (str): ``"ours"``, ``"captum"`` or ``"baseline"``.
        kind (str): ``"perturbation"``, ``"gradient"`` or ``"random"``.
        defaults (dict): The method's settings (recorded in ``run.json``).
        budget_rule (str): How the shared budget sets the method's number of
                    model evaluations (recorded); empty when it does not.
        needs (tuple of str): Resources it needs, from :data:`RESOURCES`.
        windows (bool): Whether it runs through a windowed classifier (long
                    documents); methods that need the whole input within the
                    model's length do not.
    """

    run: Callable[[MethodContext, Dict[str, Any]], Tensor]
    description: str
    family: str
    kind: str
    defaults: Dict[str, Any] = field(default_factory=dict)
    budget_rule: str = ""
    needs: Tuple[str, ...] = ()
    windows: bool = True

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
        return {
            "description": self.description,
            "family": self.family,
            "kind": self.kind,
            "settings": settings,
        }

    def attribute(self, ctx: MethodContext) -> Tensor:
        """Run the method on ``ctx``: (batch, tokens) float attributions."""
        if ctx.windowed and not self.windows:
            raise ValueError(
                "this method needs inputs within the model's length and cannot run "
                "through a windowed classifier"
            )
        missing = [name for name in self.needs if name not in ctx.resources]
        if missing:
            raise ValueError(f"this method needs the resources {missing}")
        attributions = self.run(ctx, self.settings(ctx.options))
        if attributions.dim() == 3:
            attributions = attributions.sum(-1)
        included = ctx.feature_mask >= 0
        return (attributions.detach().float() * included).to(torch.float32)


METHODS: Dict[str, MethodSpec] = {}


def register_method(name: str, spec: MethodSpec) -> None:
    """Make a method available to the benchmark, ``explain`` and the command
    line under ``name``."""
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"`spec` must be a MethodSpec; got {type(spec).__name__}.")
    METHODS[name] = spec


def check_methods(names: Any) -> List[str]:
    """Validate a list of method names against :data:`METHODS`."""
    names = list(names)
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise ValueError(
            f"`methods` has unknown names {unknown}; known: {sorted(METHODS)}."
            if unknown
            else "`methods` is empty."
        )
    return names


@contextlib.contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Seed torch's and numpy's global generators (Captum's samplers draw from
    them) and restore both afterwards."""
    state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(state)


def _per_example(ctx: MethodContext, run: Callable[[MethodContext], Tensor]) -> Tensor:
    """Run ``run`` on each example alone (cut to its length, global generators
    seeded with ``ctx.seed``) and pad the results back into a batch."""
    out = torch.zeros(ctx.input_ids.shape, device=ctx.input_ids.device)
    for row in range(ctx.input_ids.shape[0]):
        one = ctx.example(row)
        with seeded_global_rng(ctx.seed):
            scores = run(one)
        if scores.dim() == 3:
            scores = scores.sum(-1)
        out[row, : scores.shape[1]] = scores[0].detach().float()
    return out


class WeightedLeastSquares(Model):
    """Closed-form weighted ridge regression, the surrogate of our LIME and
    KernelSHAP runs: Captum's defaults are scikit-learn models (not a
    dependency here), and the closed form is exact and fast for one example's
    few features. The intercept is fitted and not returned."""

    def __init__(self, ridge: float = 1e-6) -> None:
        self.ridge = ridge
        self.coefficients: Optional[Tensor] = None

    def fit(self, train_data: Any, **kwargs: Any) -> None:
        xs, ys, ws = [], [], []
        for batch in train_data:
            x, y = batch[0], batch[1]
            w = batch[2] if len(batch) > 2 else torch.ones(len(x))
            xs.append(x)
            ys.append(y)
            ws.append(w)
        x = torch.cat(xs).double()
        y = torch.cat(ys).double().reshape(len(x), -1)
        w = torch.cat(ws).double().reshape(-1, 1)
        design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
        gram = design.T @ (w * design)
        gram += self.ridge * gram.diagonal().abs().mean() * torch.eye(len(gram))
        solution = torch.linalg.solve(gram, design.T @ (w * y))
        self.coefficients = solution[:-1].T.float()

    def representation(self) -> Tensor:
        if self.coefficients is None:
            raise RuntimeError("fit() first")
        return self.coefficients

    def __call__(self, x: Tensor) -> Tensor:
        return x.float() @ self.representation().T


def _feature_ablation(token: str) -> Callable[[MethodContext, Dict], Tensor]:
    def run(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
        def one(c: MethodContext) -> Tensor:
            return FeatureAblation(c.forward(settings["output"])).attribute(
                c.input_ids,
                baselines=c.baseline_ids(token),
                target=c.target,
                additional_forward_args=c.additional_forward_args,
                feature_mask=c.captum_feature_mask(),
                perturbations_per_eval=c.internal_batch_size,
            )

        return _per_example(ctx, one)

    return run


def _surrogate(kind: str) -> Callable[[MethodContext, Dict], Tensor]:
    def run(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
        def one(c: MethodContext) -> Tensor:
            forward = c.forward(settings["output"])
            if kind == "lime":
                method: Lime = Lime(forward, interpretable_model=WeightedLeastSquares())
            else:
                method = KernelShap(forward)
                method.interpretable_model = WeightedLeastSquares()
            return method.attribute(
                c.input_ids,
                baselines=c.baseline_ids("pad"),
                target=c.target,
                additional_forward_args=c.additional_forward_args,
                feature_mask=c.captum_feature_mask(),
                n_samples=c.budget,
                perturbations_per_eval=c.internal_batch_size,
            )

        return _per_example(ctx, one)

    return run


def _shapley(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    def one(c: MethodContext) -> Tensor:
        features = int(c.words[0]) + 1
        return ShapleyValueSampling(c.forward(settings["output"])).attribute(
            c.input_ids,
            baselines=c.baseline_ids("pad"),
            target=c.target,
            additional_forward_args=c.additional_forward_args,
            feature_mask=c.captum_feature_mask(),
            n_samples=max(1, c.budget // features),
            perturbations_per_eval=c.internal_batch_size,
        )

    return _per_example(ctx, one)


def _lig(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    return LayerIntegratedGradients(
        ctx.forward(settings["output"]), ctx.layer
    ).attribute(
        ctx.input_ids,
        baselines=ctx.baseline_ids("pad"),
        target=ctx.target,
        additional_forward_args=ctx.additional_forward_args,
        n_steps=settings["n_steps"],
        internal_batch_size=ctx.internal_batch_size,
    )


def _gradients(ctx: MethodContext, output: str, multiply: bool) -> Tensor:
    return LayerGradientXActivation(
        ctx.forward(output), ctx.layer, multiply_by_inputs=multiply
    ).attribute(
        ctx.input_ids,
        target=ctx.target,
        additional_forward_args=ctx.additional_forward_args,
    )


def _saliency(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    return _gradients(ctx, settings["output"], multiply=False).norm(dim=-1)


def _ixg(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    return _gradients(ctx, settings["output"], multiply=True).sum(-1)


def _gradshap(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    def one(c: MethodContext) -> Tensor:
        layer, forward = c.layer, c.forward(settings["output"])

        def layer_forward(layer_output: Tensor, ids: Tensor, *args: Any) -> Tensor:
            return forward_with_layer_replaced(forward, layer, ids, args, layer_output)

        with torch.no_grad():
            inputs, baseline = layer(c.input_ids), layer(c.baseline_ids("pad"))
        return GradientShap(layer_forward).attribute(
            inputs,
            baselines=baseline,
            target=c.target,
            additional_forward_args=(c.input_ids, *c.additional_forward_args),
            n_samples=settings["n_samples"],
            stdevs=settings["stdevs"],
        )

    return _per_example(ctx, one)


def _nlgp(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    return LayerNLGP(ctx.forward(settings["output"]), ctx.layer).attribute(
        ctx.input_ids,
        target=ctx.target,
        additional_forward_args=ctx.additional_forward_args,
        feature_mask=ctx.feature_mask,
        n_samples=ctx.budget,
        internal_batch_size=ctx.internal_batch_size,
        seed=ctx.seed,
    )


def _im(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    def one(c: MethodContext) -> Tensor:
        method = LayerInputMarginalization(
            c.forward("logits"),
            c.layer,
            c.resources["mlm"],
            tokenizer=c.tokenizer,
            output="logits",
        )
        return method.attribute(
            c.input_ids,
            target=c.target,
            additional_forward_args=c.additional_forward_args,
            feature_mask=c.feature_mask,
            threshold=settings["threshold"],
            top_k=max(1, c.budget // int(c.words[0])),
            internal_batch_size=c.internal_batch_size,
        )

    return _per_example(ctx, one)


def _lafa(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    return LayerLAFA(
        ctx.forward(settings["output"]), ctx.layer, ctx.resources["reference_index"]
    ).attribute(
        ctx.input_ids,
        target=ctx.target,
        additional_forward_args=ctx.additional_forward_args,
        feature_mask=ctx.feature_mask,
        n_samples=settings["n_samples"],
        internal_batch_size=ctx.internal_batch_size,
        seed=ctx.seed,
    )


def _marc(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    # The whole embedding block is masked (the paper's choice); a windowed
    # classifier only exposes the token table, which runs on the whole document.
    kind = "tokens" if ctx.windowed else "full"
    return LayerMaskOptimization(
        ctx.forward("logits"),
        get_embedding_layer(ctx.model, kind=kind),
        pad_token_id=ctx.tokenizer.pad_token_id,
    ).attribute(
        ctx.input_ids,
        target=ctx.target,
        additional_forward_args=ctx.additional_forward_args,
        feature_mask=ctx.feature_mask,
        max_steps=settings["max_steps"],
        early_stopping=settings["early_stopping"],
        internal_batch_size=ctx.internal_batch_size,
        seed=ctx.seed,
    )


def _random(ctx: MethodContext, settings: Dict[str, Any]) -> Tensor:
    # One generator per example, seeded by (seed, example index): scores do not
    # depend on the batch, and differ between examples.
    out = torch.zeros(ctx.input_ids.shape, device=ctx.input_ids.device)
    for row, example in enumerate(ctx.example_ids_or_range().tolist()):
        generator = torch.Generator().manual_seed(ctx.seed * 1_000_003 + example)
        units = ctx.feature_mask[row]
        scores = torch.rand(int(units.max()) + 1, generator=generator)
        out[row] = scores.to(out.device)[units.clamp(min=0)]
    return out


_PROBS = {"output": "probs"}
_LOGITS = {"output": "logits"}
register_method(
    "nlgp",
    MethodSpec(
        _nlgp,
        "NLGP (MASE): normalized linear Gaussian perturbations of word embeddings",
        "ours",
        "perturbation",
        dict(_PROBS),
        "n_samples = budget",
    ),
)
register_method(
    "im",
    MethodSpec(
        _im,
        "Input marginalization: words replaced by MLM candidates (weight of "
        "evidence, bits)",
        "ours",
        "perturbation",
        {"threshold": 1e-5},
        "top_k candidates per word = max(1, budget // words)",
        needs=("mlm",),
        windows=False,
    ),
)
register_method(
    "lafa",
    MethodSpec(
        _lafa,
        "LAFA: SmoothGrad scores aggregated over similar training texts",
        "ours",
        "gradient",
        {**_LOGITS, "n_samples": 25},
        needs=("reference_index",),
        windows=False,
    ),
)
register_method(
    "marc",
    MethodSpec(
        _marc,
        "MaRC: optimized soft word masks (sufficiency + comprehensiveness)",
        "ours",
        "gradient",
        {"max_steps": 300, "early_stopping": True},
    ),
)
register_method(
    "lig",
    MethodSpec(
        _lig,
        "Captum LayerIntegratedGradients on token embeddings, [PAD] baseline",
        "captum",
        "gradient",
        {**_LOGITS, "n_steps": 50},
    ),
)
register_method(
    "saliency",
    MethodSpec(
        _saliency,
        "Saliency: L2 norm of the gradient w.r.t. each token embedding (unsigned)",
        "captum",
        "gradient",
        dict(_LOGITS),
    ),
)
register_method(
    "ixg",
    MethodSpec(
        _ixg,
        "Captum LayerGradientXActivation (Input x Gradient) on token embeddings",
        "captum",
        "gradient",
        dict(_LOGITS),
    ),
)
register_method(
    "gradshap",
    MethodSpec(
        _gradshap,
        "Captum GradientShap on token embeddings, [PAD]-embedding baseline",
        "captum",
        "gradient",
        {**_LOGITS, "n_samples": 20, "stdevs": 0.0},
    ),
)
register_method(
    "occlusion",
    MethodSpec(
        _feature_ablation("mask"),
        "Occlusion: leave-one-out over words, each word's tokens -> [MASK] "
        "(Captum FeatureAblation)",
        "captum",
        "perturbation",
        dict(_PROBS),
        "fixed: words + 1 evaluations",
    ),
)
register_method(
    "feature_ablation",
    MethodSpec(
        _feature_ablation("pad"),
        "Captum FeatureAblation over words, each word's tokens -> [PAD]",
        "captum",
        "perturbation",
        dict(_PROBS),
        "fixed: words + 1 evaluations",
    ),
)
register_method(
    "lime",
    MethodSpec(
        _surrogate("lime"),
        "Captum Lime over words ([PAD] baseline), weighted least-squares surrogate",
        "captum",
        "perturbation",
        dict(_PROBS),
        "n_samples = budget",
    ),
)
register_method(
    "kernel_shap",
    MethodSpec(
        _surrogate("kernel_shap"),
        "Captum KernelShap over words ([PAD] baseline), weighted least squares",
        "captum",
        "perturbation",
        dict(_PROBS),
        "n_samples = budget",
    ),
)
register_method(
    "shapley",
    MethodSpec(
        _shapley,
        "Captum ShapleyValueSampling over words ([PAD] baseline)",
        "captum",
        "perturbation",
        dict(_PROBS),
        "permutations = max(1, budget // (words + 1))",
    ),
)
register_method(
    "random",
    MethodSpec(
        _random,
        "Random: uniform word scores seeded by (seed, example); the floor",
        "baseline",
        "random",
    ),
)


def build_resources(
    methods: Any,
    model: Module,
    tokenizer: Any,
    mlm: Any = None,
    reference_texts: Optional[Sequence[str]] = None,
    cache_path: Optional[str] = None,
    show_progress: bool = False,
) -> Dict[str, Any]:
    """The resources the given methods need, by name.

    Args:
        methods (iterable of str): Registered method names.
        model (Module): The explained classifier (encodes the reference pool).
        tokenizer (PreTrainedTokenizerBase): Its tokenizer.
        mlm (Module or str, optional): The masked language model of ``im``, or
                    its folder. Default: None
        reference_texts (list of str, optional): The reference pool of
                    ``lafa`` (e.g. training texts). Default: None
        cache_path (str, optional): Where the reference index is saved once
                    built and loaded from later (a run's folder). Default: None
        show_progress (bool): A progress bar while the reference index is
                    built (on stderr). Default: False

    Raises:
        ValueError: A method needs a resource that was not given.
    """
    needed = {need for name in methods for need in METHODS[name].needs}
    resources: Dict[str, Any] = {}
    if "mlm" in needed:
        if mlm is None:
            raise ValueError("method `im` needs a masked language model: pass `mlm`.")
        if isinstance(mlm, (str, Path)):
            from transformers import AutoModelForMaskedLM

            mlm = AutoModelForMaskedLM.from_pretrained(str(mlm)).eval()
        resources["mlm"] = mlm
    if "reference_index" in needed:
        if cache_path is not None and Path(cache_path).is_file():
            resources["reference_index"] = ReferenceIndex.load(str(cache_path), model)
        else:
            if not reference_texts:
                raise ValueError(
                    "method `lafa` needs reference texts (a training split): pass "
                    "`reference_texts`."
                )
            index = ReferenceIndex.build(
                model, reference_texts, tokenizer, show_progress=show_progress
            )
            if cache_path is not None:
                index.save(str(cache_path))
            resources["reference_index"] = index
    return resources
