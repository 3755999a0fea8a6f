"""Every third-party import of the project is declared in setup.py.

A fresh virtual environment has only what setup.py declares: an import that
works on a developer's machine because the package happens to be installed
there fails for a user. This test reads the imports of the package, the tests,
the benchmarks and the tutorials (at any depth, so optional imports inside
functions count too) and the requirements of setup.py, and fails on an import
that no requirement provides.
"""

import ast
import importlib.metadata
import json
import re
import sys
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
TREES = ("captum_nlp_ext", "tests", "benchmarks", "tutorials")
# Import names of optional packages that need not be installed for the suite,
# and whose distribution cannot be looked up where they are not.
KNOWN_DISTRIBUTIONS = {
    "faiss": "faiss-cpu",
    "IPython": "ipython",
    # Imported through _utils.imports.require where they are used.
    "filelock": "filelock",
    "jinja2": "Jinja2",
    "markupsafe": "MarkupSafe",
}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _sources() -> Iterator[Tuple[Path, str]]:
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*")):
            if path.suffix == ".py":
                yield path, path.read_text(encoding="utf-8")
            elif path.suffix == ".ipynb" and ".ipynb_checkpoints" not in path.parts:
                cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
                code = "\n".join(
                    "".join(c["source"]) for c in cells if c["cell_type"] == "code"
                )
                # Cell magics and shell lines are not Python.
                yield path, "\n".join(
                    line
                    for line in code.splitlines()
                    if not line.lstrip().startswith(("%", "!"))
                )


def _project_paths() -> Iterator[Path]:
    """Paths of the project, without caches, builds and virtual environments
    (a mypy cache holds a folder per imported package)."""
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if not any(p.startswith(".") or p in _NOT_PROJECT for p in parts):
            yield path


_NOT_PROJECT = {"build", "dist", "_build", "venv", "__pycache__", "node_modules"}


def _local_modules() -> Set[str]:
    paths = list(_project_paths())
    names = {p.stem for p in paths if p.suffix == ".py"} | set(TREES)
    return names | {p.name for p in paths if p.is_dir()}


def _third_party_imports() -> Dict[str, Set[str]]:
    local = _local_modules()
    found: Dict[str, Set[str]] = {}
    for path, text in _sources():
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif _required(node):
                names = [node.args[0].value]  # type: ignore[attr-defined]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in local:
                    continue
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _required(node: ast.AST) -> bool:
    """``require("module", ...)``: the package's import of a module done
    where it is used (captum_nlp_ext._utils.imports)."""
    return (
        isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "require"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def _declared() -> Set[str]:
    """Distribution names in setup.py's INSTALL_REQUIRES and EXTRAS_REQUIRE."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    lists: Dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and isinstance(node.value, ast.List):
                lists[target.id] = ast.literal_eval(node.value)
    requirements = list(lists["INSTALL_REQUIRES"])  # type: ignore[arg-type]
    for name, value in lists.items():
        if name.endswith("_REQUIRES"):
            requirements += list(value)  # type: ignore[arg-type]
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == (
            "EXTRAS_REQUIRE"
        ):
            for value in node.value.values:  # type: ignore[attr-defined]
                if isinstance(value, ast.List):
                    requirements += ast.literal_eval(value)
    return {_normalize(re.split(r"[<>=!~\[ ;]", r, 1)[0]) for r in requirements}


def _distribution(module: str) -> str:
    if module in KNOWN_DISTRIBUTIONS:
        return KNOWN_DISTRIBUTIONS[module]
    providers = importlib.metadata.packages_distributions().get(module)
    if not providers:
        return ""
    return providers[0]


def test_every_third_party_import_is_declared_in_setup_py():
    declared = _declared()
    assert {"torch", "captum", "transformers", "pytest"} <= declared
    problems = []
    for module, files in sorted(_third_party_imports().items()):
        distribution = _distribution(module)
        if not distribution:
            problems.append(
                f"{module} (imported in {sorted(files)}) is not installed and its "
                "distribution is unknown: declare it and add it to "
                "KNOWN_DISTRIBUTIONS"
            )
        elif _normalize(distribution) not in declared:
            problems.append(
                f"{module} (distribution {distribution}, imported in "
                f"{sorted(files)[:3]}) is not declared in setup.py"
            )
    assert not problems, "\n".join(problems)


def test_the_check_sees_nested_and_notebook_imports():
    imports = _third_party_imports()
    # faiss is imported inside a function only, through require(), as are
    # jinja2 and filelock; matplotlib in the notebooks.
    assert {"faiss", "jinja2", "filelock", "matplotlib"} <= set(imports)
    assert any(f.endswith(".ipynb") for f in imports["matplotlib"])
    assert "captum_nlp_ext" not in imports and "json" not in imports
