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


TEST_REQUIRES = [
    "pytest>=7",
    "ipython",
    "black==26.10.1",
    "usort==1.1.3",
    "ufmt==2.9.1",
    "flake8==7.5.0",
    "matplotlib",
    "selenium",
]
# tests/test_tutorials.py executes the notebooks with nbclient on ipykernel.
TUTORIAL_REQUIRES = [
    "jupyter",
    "nbconvert",
    "nbformat",
    "nbclient",
    "ipykernel",
    "matplotlib",
]

setup(
    name="captum-nlp-ext",
    version=read_version(),
    description="Recent NLP attribution methods and their evaluation, for Captum",
    long_description=read_readme(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["captum_nlp_ext", "captum_nlp_ext.*"]),
    install_requires=[
        "captum>=0.9,<0.10",
        "torch>=2.3",
        "transformers>=4.40",
        "numpy",
        "tqdm",
        "safetensors",
    ],
    extras_require={
        "test": TEST_REQUIRES,
        "tutorials": TUTORIAL_REQUIRES,
        "dev": TEST_REQUIRES + TUTORIAL_REQUIRES,
    },
    entry_points={"console_scripts": ["captum-nlp=captum_nlp_ext.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: BSD License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
