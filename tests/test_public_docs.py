"""Every public name is documented (the API reference in docs/ is built from
these docstrings by CI with warnings as errors)."""

import importlib
import inspect

import pytest

PUBLIC_MODULES = [
    "captum_nlp_ext.attr",
    "captum_nlp_ext.attr.rationales",
    "captum_nlp_ext.attr.visualization",
    "captum_nlp_ext.metrics",
    "captum_nlp_ext.benchmark",
    "captum_nlp_ext.corpus",
    "captum_nlp_ext.datasets",
    "captum_nlp_ext.huggingface",
    "captum_nlp_ext.causal_lm",
    "captum_nlp_ext.testing",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_class_and_function_has_a_docstring(name):
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} has no module docstring"
    public = getattr(module, "__all__", None)
    assert public, f"{name} must list its public names in __all__"
    missing = [
        attr
        for attr in public
        if (
            inspect.isclass(getattr(module, attr))
            or inspect.isfunction(getattr(module, attr))
        )
        and not inspect.getdoc(getattr(module, attr))
    ]
    assert not missing, f"{name}: undocumented {missing}"
    # and the methods a user calls on a class
    for attr in public:
        obj = getattr(module, attr)
        if inspect.isclass(obj) and obj.__module__.startswith("captum_nlp_ext"):
            for method in ("attribute", "fit", "build", "load", "save"):
                if method in vars(obj):
                    assert inspect.getdoc(vars(obj)[method]), f"{attr}.{method}"
