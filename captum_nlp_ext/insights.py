"""Our methods in Captum Insights, for users still on captum 0.8.

Captum Insights (``captum.insights``, the web app that compares attribution
methods on a model's examples) was removed in captum 0.9. This package
requires captum 0.9, but its NLGP and MaRC also run on captum 0.8 (install the
package there with ``pip install --no-deps``);
:func:`register_insights_methods` adds them to the method list of an Insights
0.8 ``AttributionVisualizer``, with their settings as Insights argument
configs::

    >>> from captum.insights import AttributionVisualizer, Batch
    >>> from captum.insights.attr_vis.features import TextFeature
    >>> from captum_nlp_ext.insights import register_insights_methods
    >>> register_insights_methods()  # ["NLGP", "MaRC"]
    >>> visualizer = AttributionVisualizer(
    ...     models=[model_of_embeddings], classes=["negative", "positive"],
    ...     features=[TextFeature(
    ...         "Sentence", baseline_transforms=reference_embeddings,
    ...         input_transforms=embed, visualization_transform=words)],
    ...     dataset=batches_of_token_ids)
    >>> visualizer.serve()  # choose "NLGP" or "MaRC" in the method list

How it fits Insights: Insights builds a method as ``Method(model)`` and calls
``attribute(inputs, baselines=..., target=..., additional_forward_args=...,
**settings)`` on the model's inputs after the feature's ``input_transforms``.
Our methods attribute to the output of a layer, so each adapter wraps the model
so that its input passes through an identity layer, and runs the method on that
layer. The model must therefore take embeddings (batch, tokens, hidden): give
the ``TextFeature`` an input transform from token ids to embeddings and a model
that takes them (for Hugging Face, ``inputs_embeds``). Units are tokens
(Insights passes no feature mask), and Insights' baseline (the feature's
``baseline_transforms`` applied to the embeddings, zeros without one) is MaRC's
reference and NLGP's for ``perturbation="reference"``. The seed defaults to 0
so that a view is the same each time it is computed.

Not registered: LayerInputMarginalization (IM) and LayerLAFA need token ids
(IM substitutes tokens proposed by a masked language model, LAFA looks up
neighbours of the token sequence in a reference index) and an object besides
the model (the MLM, the index), while Insights feeds the model embeddings and
builds a method from the model alone.

On captum 0.9 this module imports, and its functions raise an ``ImportError``
that points to ``captum-nlp benchmark`` and ``captum-nlp report``, the
replacement for Insights.
"""

import importlib.util
import inspect
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Type

import torch
from captum.attr import Attribution
from captum.log import log_usage
from torch import Tensor
from torch.nn import Identity, Module

from captum_nlp_ext._utils.targets import TargetType
from captum_nlp_ext.attr import (
    LayerMaskOptimization,
    LayerNLGP,
    MaskOptimizationSettings,
)

__all__ = [
    "InsightsMaskOptimization",
    "InsightsNLGP",
    "INSIGHTS_METHODS",
    "insights_methods",
    "register_insights_methods",
    "unregister_insights_methods",
]

_LEFT_OUT = {
    "im": "IM substitutes token ids proposed by a masked language model",
    "lafa": "LAFA needs token ids and a ReferenceIndex of training examples",
}


def _to_int(value: Any) -> int:
    """Insights' number fields may send floats or strings."""
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"expected a whole number; got {value!r}.")
    return int(number)


class _InputLayerModel(Module):
    """Runs ``model`` on its first input passed through an identity layer: the
    layer our layer methods perturb when Insights hands them model inputs."""

    def __init__(self, model: Callable[..., Any]) -> None:
        super().__init__()
        self.model = model
        self.input_layer = Identity()

    def forward(self, inputs: Tensor, *args: Any) -> Any:
        return self.model(self.input_layer(inputs), *args)


class _InsightsAdapter(Attribution):
    """A layer method of ours as Insights builds and calls a method."""

    display_name: str
    method_class: Type[Attribution]
    # Settings shown in the app: name -> (limits or choices, cast of the value
    # the app sends); defaults are the method's own, except seed 0.
    settings: Dict[str, Tuple[Any, Callable[[Any], Any]]]

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        r"""
        Args:
            forward_func (Callable): The model Insights was given: it takes
                        embeddings (batch, tokens, hidden), then the batch's
                        additional arguments, and returns (batch, classes) logits.
        """
        self.model = _InputLayerModel(forward_func)
        super().__init__(self.model)
        self.method = self._make({})

    def _make(self, options: Dict[str, Any]) -> Any:
        """The method, built with the given constructor settings."""
        return self.method_class(self.model, self.model.input_layer, **options)

    @classmethod
    def get_name(cls) -> str:
        return cls.display_name

    @classmethod
    def defaults(cls) -> Dict[str, Any]:
        """The method's default of every setting it takes."""
        return {
            name: parameter.default
            for function in cls._takes_settings()
            for name, parameter in inspect.signature(function).parameters.items()
        }

    @classmethod
    def _takes_settings(cls) -> Tuple[Callable[..., Any], ...]:
        """What takes the method's settings: what builds it, then attribute."""
        return (cls.method_class.__init__, cls.method_class.attribute)

    @log_usage()
    def attribute(
        self,
        inputs: Any,
        baselines: Any = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        **kwargs: Any,
    ) -> Any:
        r"""
        Args:
            inputs (Tensor or tuple[Tensor]): Embeddings (batch, tokens, hidden);
                        Insights passes a one-tensor tuple and gets a tuple back.
            baselines (Tensor or tuple[Tensor], optional): Reference embeddings
                        of shape (batch or 1, tokens, hidden), see the method.
                        Default: None
            target (int, list[int], Tensor, optional): Class to explain.
                        Default: None (the predicted class)
            additional_forward_args (Any, optional): Further arguments of the
                        model (Captum's convention).
                        Default: None
            **kwargs (Any): Settings of the method (its ``attribute``'s
                        keyword arguments).

        Returns:
            *Tensor* or *tuple[Tensor]*: (batch, tokens) attributions, in the
            format of ``inputs``.
        """
        embeddings = _single_tensor("inputs", inputs)
        if not embeddings.is_floating_point() or embeddings.dim() != 3:
            raise ValueError(
                "`inputs` must be embeddings (batch, tokens, hidden): give the "
                "Insights TextFeature an input transform from token ids to "
                "embeddings and a model that takes them; got "
                f"{embeddings.dtype} of shape {tuple(embeddings.shape)}."
            )
        baseline = None
        if baselines is not None:
            baseline = _single_tensor("baselines", baselines)
        # Settings its constructor takes build the method for this call.
        made = inspect.signature(self._takes_settings()[0]).parameters
        options = {name: kwargs.pop(name) for name in list(kwargs) if name in made}
        method = self._make(options) if options else self.method
        attributions = method.attribute(
            embeddings,
            target=target,
            additional_forward_args=additional_forward_args,
            **self._with_reference(method, embeddings, baseline, kwargs),
        )
        return (attributions,) if isinstance(inputs, tuple) else attributions

    def _with_reference(
        self,
        method: Any,
        embeddings: Tensor,
        baseline: Optional[Tensor],
        kwargs: Dict[str, Any],
    ) -> Dict[str, Any]:
        """The method's keyword arguments, with the baseline where it belongs."""
        raise NotImplementedError


class InsightsNLGP(_InsightsAdapter):
    """:class:`~captum_nlp_ext.attr.LayerNLGP` on the embeddings Insights feeds
    the model. The Insights baseline is the reference of
    ``perturbation="reference"`` (the default) and is unused by the other
    perturbations."""

    display_name = "NLGP"
    method_class = LayerNLGP
    settings = {
        "n_samples": ((2, None), _to_int),
        "stdevs": ((0, None), float),
        "perturbation": (LayerNLGP.PERTURBATIONS, str),
        "p_perturb": ((0, 1), float),
        "seed": ((0, None), _to_int),
    }

    def _with_reference(
        self,
        method: Any,
        embeddings: Tensor,
        baseline: Optional[Tensor],
        kwargs: Dict[str, Any],
    ) -> Dict[str, Any]:
        if method.perturbation == "reference" and "baselines" not in kwargs:
            return {**kwargs, "baselines": baseline}
        return kwargs


class InsightsMaskOptimization(_InsightsAdapter):
    """:class:`~captum_nlp_ext.attr.LayerMaskOptimization` (MaRC) on the
    embeddings Insights feeds the model; a masked token becomes the Insights
    baseline's embedding (zeros when there is none)."""

    display_name = "MaRC"
    method_class = LayerMaskOptimization
    settings = {
        "max_steps": ((1, None), _to_int),
        "lr": ((0, None), float),
        "compactness_weight": ((0, None), float),
        "seed": ((0, None), _to_int),
    }

    @classmethod
    def _takes_settings(cls) -> Tuple[Callable[..., Any], ...]:
        return (MaskOptimizationSettings, cls.method_class.attribute)

    def _make(self, options: Dict[str, Any]) -> Any:
        return self.method_class(
            self.model,
            self.model.input_layer,
            settings=MaskOptimizationSettings(**options),
        )

    def _with_reference(
        self,
        method: Any,
        embeddings: Tensor,
        baseline: Optional[Tensor],
        kwargs: Dict[str, Any],
    ) -> Dict[str, Any]:
        if "baselines" in kwargs:
            return kwargs
        if baseline is None:
            baseline = torch.zeros_like(embeddings[:1])
        return {**kwargs, "baselines": baseline}


INSIGHTS_METHODS: Dict[str, Type[_InsightsAdapter]] = {
    "nlgp": InsightsNLGP,
    "marc": InsightsMaskOptimization,
}


def register_insights_methods(methods: Sequence[str] = ("nlgp", "marc")) -> List[str]:
    r"""Add methods of ours to Captum Insights' method list (captum 0.8).

    Registering again is harmless. Every ``AttributionVisualizer`` of the
    process offers the methods, created before or after the call.

    Args:
        methods (sequence of str): Keys of :data:`INSIGHTS_METHODS`.
                    Default: ("nlgp", "marc")

    Returns:
        The names Insights shows, e.g. ``["NLGP", "MaRC"]``.

    Raises:
        ImportError: captum.insights cannot be imported (captum >= 0.9, or
                    flask missing).
    """
    adapters = _adapters(methods)
    config = _insights_config()
    names = [adapter.get_name() for adapter in adapters]
    for name, adapter in zip(names, adapters):
        present = config.ATTRIBUTION_NAMES_TO_METHODS.get(name, adapter)
        if present is not adapter:
            raise ValueError(
                f"Insights already has a method named {name!r} ({present!r}); "
                "unregister it first."
            )
    for name, adapter in zip(names, adapters):
        config.ATTRIBUTION_NAMES_TO_METHODS[name] = adapter
        config.ATTRIBUTION_METHOD_CONFIG[name] = _method_config(config, adapter)
    return names


def unregister_insights_methods(methods: Sequence[str] = ("nlgp", "marc")) -> None:
    r"""Remove methods of ours from Insights' method list; methods that are not
    registered are skipped.

    Args:
        methods (sequence of str): Keys of :data:`INSIGHTS_METHODS`.
                    Default: ("nlgp", "marc")
    """
    adapters = _adapters(methods)
    config = _insights_config()
    for adapter in adapters:
        if _registered(config, adapter):
            del config.ATTRIBUTION_NAMES_TO_METHODS[adapter.get_name()]
            config.ATTRIBUTION_METHOD_CONFIG.pop(adapter.get_name(), None)


@contextmanager
def insights_methods(methods: Sequence[str] = ("nlgp", "marc")) -> Iterator[List[str]]:
    r"""Our methods in Insights' list inside a ``with`` block only; methods that
    were registered before the block stay registered after it.

    Args:
        methods (sequence of str): Keys of :data:`INSIGHTS_METHODS`.
                    Default: ("nlgp", "marc")

    Yields:
        The names Insights shows.
    """
    _adapters(methods)
    config = _insights_config()
    added = [key for key in methods if not _registered(config, INSIGHTS_METHODS[key])]
    names = register_insights_methods(methods)
    try:
        yield names
    finally:
        unregister_insights_methods(added)


def _registered(config: ModuleType, adapter: Type[_InsightsAdapter]) -> bool:
    return config.ATTRIBUTION_NAMES_TO_METHODS.get(adapter.get_name()) is adapter


def _adapters(methods: Sequence[str]) -> List[Type[_InsightsAdapter]]:
    if isinstance(methods, str):
        raise TypeError(
            f"`methods` must be a sequence of method names; got the string "
            f"{methods!r} (write [{methods!r}])."
        )
    adapters = []
    for key in methods:
        if key in _LEFT_OUT:
            raise ValueError(
                f"`methods`: {key!r} cannot run in Insights ({_LEFT_OUT[key]}, "
                "while Insights feeds the model embeddings and builds a method "
                f"from the model alone). Available: {sorted(INSIGHTS_METHODS)}."
            )
        if key not in INSIGHTS_METHODS:
            raise ValueError(
                f"`methods`: unknown method {key!r}; expected some of "
                f"{sorted(INSIGHTS_METHODS)}."
            )
        adapters.append(INSIGHTS_METHODS[key])
    return adapters


def _insights_config() -> ModuleType:
    try:
        from captum.insights.attr_vis import config
    except ImportError as error:
        import captum

        if importlib.util.find_spec("captum.insights") is None:
            message = (
                "Captum Insights was removed in captum 0.9 (installed: captum "
                f"{captum.__version__}). Compare methods with `captum-nlp "
                "benchmark` and view them side by side with `captum-nlp report "
                "DIR` (one HTML file, no server), or use Insights in an "
                "environment with captum 0.8: pip install "
                "'captum[insights]==0.8.0' 'numpy<2'."
            )
        else:
            message = (
                f"Captum Insights cannot be imported ({type(error).__name__}: "
                f"{error}); it needs flask and flask-compress: pip install "
                "'captum[insights]==0.8.0'."
            )
        raise ImportError(message) from error
    return config


def _method_config(config: ModuleType, adapter: Type[_InsightsAdapter]) -> Any:
    """Insights' argument config of an adapter."""
    defaults = adapter.defaults()
    params = {}
    for name, (limits, cast) in adapter.settings.items():
        default = 0 if name == "seed" else defaults[name]
        if cast is str:
            params[name] = config.StrEnumConfig(default, list(limits))
        else:
            params[name] = config.NumberConfig(default, limits)
    return config.ConfigParameters(
        params=params,
        post_process={name: cast for name, (_, cast) in adapter.settings.items()},
    )


def _single_tensor(name: str, value: Any) -> Tensor:
    if isinstance(value, tuple):
        if len(value) != 1:
            raise ValueError(
                f"`{name}` must hold one tensor (one Insights TextFeature); got "
                f"{len(value)}."
            )
        value = value[0]
    if not isinstance(value, Tensor):
        raise TypeError(f"`{name}` must be a tensor; got {type(value).__name__}.")
    return value
