"""CONTRIBUTING.md's table of conventions, enforced over the public signatures
of ``captum_nlp_ext.attr`` and ``captum_nlp_ext.metrics``: one name, one
meaning (its default and type), options keyword-only, no deprecated name, and
tuple outputs annotated where tuples come out. A deliberate exception is listed
below with its reason; an exception that no longer applies fails too, so the
lists only shrink."""

import ast
import dataclasses
import inspect
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Tuple

import captum_nlp_ext.attr as attr
import captum_nlp_ext.metrics as metrics

PACKAGE = Path(attr.__file__).resolve().parents[2]

# Old names kept only by _utils.deprecation's shims, never in a signature.
DEPRECATED = {
    "std",
    "sigma",
    "noise_level",
    "noise_std",
    "reference",
    "mask_id",
    "banned_ids",
    "fraction",
    "apply_softmax",
    "relative_k",
}

# name -> its default everywhere it appears.
DEFAULTS: Dict[str, Any] = {
    "target": None,
    "additional_forward_args": None,
    "feature_mask": None,
    "internal_batch_size": None,
    "show_progress": False,
    "baselines": None,
    "output": "logits",
    "pool": "auto",
    "removal": "delete",
    "pad_token_id": None,
    "mask_token_id": None,
    "special_token_ids": None,
    "device_ids": None,
    "tokenizer": None,
}

# Options that Captum's own attribute methods take by position, after inputs.
CAPTUM_POSITIONAL = ("target", "additional_forward_args", "feature_mask")

# (function, parameter) -> why it may be positional although it has a default.
POSITIONAL_OPTIONS = {
    ("CostMeter.__init__", "model"): "the object measured (None: any model)",
    ("Removal.__init__", "mode"): "what the value object is (Removal('pad'))",
    ("VMaskClassifier.__init__", "tokenizer"): "goes with the model it wraps",
    (
        "EmbeddingNoise.__init__",
        "stdevs",
    ): "the noise scale it is (EmbeddingNoise(0.1))",
    ("WordMasking.__init__", "feature_mask"): "the units it masks: data",
    ("diffmask_across_layers", "attention_mask"): "the mask of `inputs`: data",
    ("ReferenceIndex.build", "tokenizer"): "goes with the texts it encodes",
    ("EmbeddingNoiseTunnel.attribute", "nt_type"): "Captum's NoiseTunnel order",
    ("EmbeddingNoiseTunnel.attribute", "nt_samples"): "Captum's NoiseTunnel order",
    ("EmbeddingNoiseTunnel.attribute", "nt_samples_batch_size"): "Captum's order",
    ("EmbeddingNoiseTunnel.attribute", "stdevs"): "Captum's NoiseTunnel order",
    (
        "EmbeddingNoiseTunnel.attribute",
        "draw_baseline_from_distrib",
    ): "Captum's NoiseTunnel order",
}

# (function, parameter) -> why its default differs from the table's.
DEFAULT_EXCEPTIONS: Dict[Tuple[str, str], str] = {}

# The seed's default: None for a method (torch's generator, as Captum's
# methods), 0 for a metric (a measurement repeats exactly). Learned methods
# draw only while they are fitted: their seed is the fit's (an int).
SEED_EXCEPTIONS = {
    "DiffMask.__init__": "a learned method: the probe's initialisation",
    "DiffMask.fit": "a learned method: the fit's draws",
    "VMaskClassifier.__init__": "a learned method: the mask's initialisation",
    "VMaskClassifier.fit": "a learned method: the fit's draws",
    "diffmask_across_layers": "fits a probe per layer",
}

# Functions of the package with more than 12 parameters (self not counted),
# each with its reason. Every metric takes one shared signature of 11 (the
# data, the explained batch, how to read the model and the attributions, the
# run) plus its own knobs, so that metrics are called alike; these three have
# more own knobs than one, and a one-off object for them would make them read
# unlike the other metrics.
_SHARED_METRIC_SIGNATURE = "the metrics' shared 11 parameters, plus "
LONG_SIGNATURES = {
    "captum_nlp_ext/metrics/faithfulness/auc_rep.py:auc_rep": _SHARED_METRIC_SIGNATURE
    + "the MLM that replaces words with its token ids (as LayerInputMarginalization "
    "takes them) and the paper's step rule; no removal",
    **{
        f"captum_nlp_ext/metrics/faithfulness/soft_erasure.py:{name}": (
            _SHARED_METRIC_SIGNATURE
            + "the layer it damages, its draws and their seed, the normalization; "
            "no removal"
        )
        for name in ("soft_comprehensiveness", "soft_sufficiency")
    },
}


def _public() -> Iterator[Tuple[str, str, Callable[..., Any]]]:
    """(part, name, function) for every public function and method."""
    for part, module in (("attr", attr), ("metrics", metrics)):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                if dataclasses.is_dataclass(obj) or issubclass(obj, tuple):
                    continue  # value objects and results: fields, not options
                for member in ("__init__", "attribute", "fit", "build", "load"):
                    function = obj.__dict__.get(member)
                    if function is None:
                        continue
                    function = getattr(function, "__func__", function)
                    yield part, f"{name}.{member}", function
            elif inspect.isfunction(obj):
                yield part, name, obj


def _parameters(function: Callable[..., Any]) -> Dict[str, inspect.Parameter]:
    parameters = dict(inspect.signature(function).parameters)
    parameters.pop("self", None)
    parameters.pop("cls", None)
    return parameters


PUBLIC = list(_public())


def test_the_public_surface_is_found():
    names = {name for _, name, _ in PUBLIC}
    assert {"LayerNLGP.attribute", "DiffMask.__init__", "comprehensiveness"} <= names
    assert len(PUBLIC) > 40


def test_no_deprecated_name_in_a_public_signature():
    offences = [
        f"{name}({p})"
        for _, name, function in PUBLIC
        for p in _parameters(function)
        if p in DEPRECATED
    ]
    assert not offences, offences


def test_a_shared_name_has_one_default():
    offences = []
    for _, name, function in PUBLIC:
        for p, parameter in _parameters(function).items():
            if p not in DEFAULTS or (name, p) in DEFAULT_EXCEPTIONS:
                continue
            if parameter.default is inspect.Parameter.empty:
                continue  # required here (e.g. the object a method needs)
            if parameter.default != DEFAULTS[p]:
                offences.append(f"{name}({p}={parameter.default!r})")
    assert not offences, offences


def test_seeds_default_to_none_in_methods_and_zero_in_metrics():
    offences = []
    for part, name, function in PUBLIC:
        seed = _parameters(function).get("seed")
        if seed is None or name in SEED_EXCEPTIONS:
            continue
        expected = None if part == "attr" else 0
        if seed.default != expected:
            offences.append(f"{name}(seed={seed.default!r}), expected {expected!r}")
    assert not offences, offences
    stale = [n for n in SEED_EXCEPTIONS if n not in {name for _, name, _ in PUBLIC}]
    assert not stale, stale


def test_options_are_keyword_only():
    offences, used = [], set()
    for _, name, function in PUBLIC:
        for p, parameter in _parameters(function).items():
            if parameter.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
                continue
            if parameter.default is inspect.Parameter.empty:
                continue  # data, passed by position
            if name.endswith(".attribute") and p in CAPTUM_POSITIONAL:
                continue
            if (name, p) in POSITIONAL_OPTIONS:
                used.add((name, p))
                continue
            offences.append(f"{name}({p})")
    assert not offences, offences
    assert used == set(POSITIONAL_OPTIONS), set(POSITIONAL_OPTIONS) - used


def test_layer_means_a_module_and_indices_say_so():
    offences = []
    for part, name, function in PUBLIC:
        for p, parameter in _parameters(function).items():
            text = str(parameter.annotation)
            if p in ("layer", "layers") and "Module" not in text:
                offences.append(f"{name}({p}: {text})")
            if p.endswith("_index") and "int" not in text:
                offences.append(f"{name}({p}: {text})")
    assert not offences, offences


def test_tuple_inputs_are_annotated_to_give_tuples_back():
    offences = []
    for _, name, function in PUBLIC:
        if not name.endswith(".attribute"):
            continue
        signature = inspect.signature(function)
        inputs = signature.parameters.get("inputs")
        if inputs is None or "Tuple" not in str(inputs.annotation):
            continue
        if "Tuple" not in str(signature.return_annotation):
            offences.append(f"{name} -> {signature.return_annotation}")
    assert not offences, offences


def _long_signatures() -> Dict[str, int]:
    long = {}
    for path in sorted(PACKAGE.joinpath("captum_nlp_ext").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            a = node.args
            names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
            count = len([n for n in names if n not in ("self", "cls")])
            if count > 12:
                where = path.relative_to(PACKAGE).as_posix()
                long[f"{where}:{node.name}"] = count
    return long


def test_no_function_takes_more_than_12_parameters():
    long = _long_signatures()
    new = sorted(set(long) - set(LONG_SIGNATURES))
    assert not new, f"more than 12 parameters (keep knobs in a settings object): {new}"
    fixed = sorted(set(LONG_SIGNATURES) - set(long))
    assert not fixed, f"no longer long: remove from LONG_SIGNATURES: {fixed}"
