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
- Sampling methods are seeded per example: example number ``i`` of a run
  seeded ``seed`` draws from ``example_seed(seed, i)``
  (:attr:`MethodContext.example_seeds`), so an example's scores depend on
  neither its batch nor the process or machine that explains it, and
  neighbouring examples draw unrelated perturbations. Ours take the seeds as
  ``seed``; Captum's samplers draw from torch's (and numpy's) global
  generators, seeded for each example and restored afterwards. LAFA takes the
  run's seed itself: its reference texts' scores, shared by every example,
  are drawn with it.
- Methods whose cost depends on the example's number of words (Shapley
  sampling, input marginalization) and Captum's samplers run one example at a
  time, cut to its own length.
"""

# Importing the adapters registers every method.
from captum_nlp_ext.engine import _captum_methods, _our_methods  # noqa: F401
from captum_nlp_ext.engine._captum_methods import seeded_global_rng
from captum_nlp_ext.engine._registry import (
    check_method_options,
    check_methods,
    FAMILIES,
    KINDS,
    MethodContext,
    METHODS,
    MethodSpec,
    register_method,
    RESOURCES,
    TEXT_RESOURCES,
)
from captum_nlp_ext.engine._surrogate import WeightedLeastSquares
from captum_nlp_ext.engine.resources import build_resources, keep_resources

__all__ = [
    "FAMILIES",
    "KINDS",
    "METHODS",
    "MethodContext",
    "MethodSpec",
    "RESOURCES",
    "TEXT_RESOURCES",
    "WeightedLeastSquares",
    "build_resources",
    "keep_resources",
    "check_method_options",
    "check_methods",
    "register_method",
    "seeded_global_rng",
]
