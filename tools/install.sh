#!/usr/bin/env bash
# Installs captum-nlp-ext, its test tools and what the tutorials need (the test
# suite executes the notebooks) on a fresh machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python -m pip install --quiet --disable-pip-version-check -e ".[test,tutorials]"
