"""The layer under every entry point (the benchmark, corpus runs, ``explain``,
the command line): the registries of methods (:mod:`.methods`) and metrics
(:mod:`.metrics`), the resources methods share (:mod:`.resources`), and one batch
explained and scored with the runs' failure policy (:mod:`.batch`).

Users reach the registries through :mod:`captum_nlp_ext.benchmark`
(``METHODS``, ``register_method``, ``METRICS``).
"""
