#!/usr/bin/env bash
# Installs captum-nlp-ext, its test tools and what the tutorials need (the test
# suite executes the notebooks) into the active Python (idempotent).
#
# torch first, so that pip never picks a build for us: an installed torch is
# kept; otherwise torch 2.13.0 is installed, from TORCH_INDEX_URL when it is set
# (for the CPU build on a machine without a GPU:
# TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash tools/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
pip=(python -m pip install --quiet --disable-pip-version-check)
if ! python -c "import torch" 2>/dev/null; then
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        "${pip[@]}" --index-url "$TORCH_INDEX_URL" "torch==2.13.0"
    else
        "${pip[@]}" "torch==2.13.0"
    fi
fi
"${pip[@]}" -e ".[test,tutorials]"
