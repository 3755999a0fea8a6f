"""The package's layering, as CONTRIBUTING.md draws it: no module reaches into
another package's private modules or names, and the top-level parts import
each other without a cycle (lazy imports inside functions included)."""

import ast
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

import pytest

import captum_nlp_ext

ROOT = Path(captum_nlp_ext.__file__).parent


def _modules() -> Iterator[Tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        parts = ("captum_nlp_ext",) + path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(path: Path) -> Iterator[Tuple[str, Tuple[str, ...], int]]:
    """(module, imported names, line) of every import of the package."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "captum_nlp_ext":
                names = tuple(alias.name for alias in node.names)
                yield node.module, names, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "captum_nlp_ext":
                    yield alias.name, (), node.lineno


def _owner(module: str) -> str:
    """The package a private module or name belongs to: the part of the
    dotted path before its first private component."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_"):
            return ".".join(parts[:i])
    return module


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_module_imports_another_packages_private_parts():
    offences = []
    for module, path in _modules():
        for imported, names, line in _imports(path):
            targets = [imported] + [
                f"{imported}.{name}" for name in names if name.startswith("_")
            ]
            for target in targets:
                owner = _owner(target)
                if owner != target and not _inside(module, owner):
                    offences.append(f"{path.relative_to(ROOT)}:{line} {target}")
    assert not offences, "private imports across packages:\n" + "\n".join(offences)


def _part(module: str) -> str:
    """The top-level part of the package a module is in (``attr``,
    ``huggingface``, ``_utils``...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "captum_nlp_ext"


def test_the_top_level_parts_import_each_other_without_a_cycle():
    graph: Dict[str, Set[str]] = {}
    for module, path in _modules():
        source = _part(module)
        for imported, names, _ in _imports(path):
            targets = {_part(imported)} | {
                _part(f"{imported}.{name}")
                for name in names
                if imported == "captum_nlp_ext"
            }
            graph.setdefault(source, set()).update(t for t in targets if t != source)
    # the root package's own __init__ re-exports; it sits above everything
    graph.pop("captum_nlp_ext", None)
    cycles = []

    def visit(node: str, trail: Tuple[str, ...]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in trail:
                cycles.append(" -> ".join(trail[trail.index(nxt) :] + (nxt,)))
            elif len(trail) < len(graph) + 1:
                visit(nxt, trail + (nxt,))

    for start in sorted(graph):
        visit(start, (start,))
    assert not cycles, "import cycles between parts:\n" + "\n".join(sorted(set(cycles)))


def test_utils_is_the_bottom_layer():
    # _utils serves every part and imports none of them (the root package,
    # which holds only the version, aside)
    for module, path in _modules():
        if _part(module) == "_utils":
            for imported, _, line in _imports(path):
                assert _part(imported) in (
                    "_utils",
                    "captum_nlp_ext",
                ), f"{path.name}:{line} {imported}"


def test_every_folder_of_the_package_is_a_regular_package():
    # find_packages (setup.py) skips a folder without __init__.py: an
    # installed (not editable) package would then lack it.
    folders = {path.parent for _, path in _modules()}
    missing = sorted(
        str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file()
    )
    assert not missing, f"folders without __init__.py: {missing}"


def test_no_file_of_the_package_is_ignored_by_git():
    # A file git ignores (an HTML template under `*.html`) is missing from a
    # fresh clone, and with it from CI and every user's install.
    import shutil
    import subprocess

    checkout = ROOT.parent
    if shutil.which("git") is None or not (checkout / ".git").exists():
        pytest.skip("not a git checkout")
    files = [
        str(p.relative_to(checkout))
        for p in ROOT.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *files],
        cwd=checkout,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert not ignored, f"files of the package that git ignores: {ignored}"
