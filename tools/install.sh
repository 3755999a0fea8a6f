#!/usr/bin/env bash
# Installs captum-nlp-ext and its test tools on a fresh machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
