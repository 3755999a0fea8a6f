"""Sphinx configuration of the captum-nlp-ext API reference.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (CI does,
warnings as errors).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import captum_nlp_ext  # noqa: E402

project = "captum-nlp-ext"
author = "captum-nlp-ext developers"
copyright = "2026, captum-nlp-ext developers"
version = release = captum_nlp_ext.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
# Google-style docstrings, as Captum writes them.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
# Attributes sections as fields, not as duplicate attribute entries.
napoleon_use_ivar = True
autodoc_typehints = "description"
autodoc_mock_imports = ["faiss"]
# Captum, torch and transformers are not cross-referenced (no network here).
nitpicky = False
html_theme = "alabaster"
exclude_patterns = ["_build"]
