"""The architecture, checked on the source: no import cycle, each layer imports only what it may,
and no module or function grows past what one reader holds in mind (counted in statements, which
the formatter does not change)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "lfe"
MODULE_STATEMENTS, FUNCTION_STATEMENTS = 200, 40
# A module may be longer when its docstring says why, with these words.
LONG_MODULE_REASON = "Longer than 200 statements because"


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (imports inside functions hide cycles too)."""
    found = set()
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1]
                    + ([base] if base else [])
                )
            found.add(base)
            found.update(
                f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES
            )
    return found


GRAPH = {
    name: {target for target in _imports(path) if target in MODULES and target != name}
    for name, path in MODULES.items()
}


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


# package -> what it must never import, at any depth (third-party packages or lfe packages)
FORBIDDEN = {
    "lfe.records": [
        "torch",
        "transformers",
        "zarr",
        "numpy",
        "lfe.analysis",
        "lfe.corpus",
        "lfe.engine",
        "lfe.models",
        "lfe.intervene",
        "lfe.store",
        "lfe.workflows",
        "lfe.report",
        "lfe.cli",
        "lfe.kernels",
    ],
    "lfe.corpus": [
        "torch",
        "transformers",
        "zarr",
        "lfe.engine",
        "lfe.models",
        "lfe.intervene",
        "lfe.store",
        "lfe.analysis",
        "lfe.workflows",
        "lfe.report",
    ],
    "lfe.analysis": [
        "torch",
        "transformers",
        "zarr",
        "lfe.engine",
        "lfe.models",
        "lfe.intervene",
        "lfe.store",
        "lfe.kernels",
        "lfe.workflows",
        "lfe.report",
    ],
    "lfe.store": [
        "torch",
        "transformers",
        "lfe.engine",
        "lfe.models",
        "lfe.intervene",
        "lfe.analysis",
        "lfe.workflows",
        "lfe.report",
    ],
    "lfe.report": [
        "torch",
        "transformers",
        "zarr",
        "lfe.engine",
        "lfe.models",
        "lfe.intervene",
        "lfe.store",
        "lfe.workflows",
    ],
    "lfe.models": [
        "zarr",
        "lfe.engine",
        "lfe.intervene",
        "lfe.store",
        "lfe.analysis",
        "lfe.workflows",
        "lfe.report",
    ],
    "lfe.engine": ["lfe.analysis", "lfe.intervene", "lfe.workflows", "lfe.report"],
    "lfe.intervene": [
        "zarr",
        "lfe.engine",
        "lfe.store",
        "lfe.analysis",
        "lfe.workflows",
        "lfe.report",
    ],
    "lfe.cli": ["numpy", "torch", "zarr"],  # thin: no array math; the library does the work
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_it_may(package) -> None:
    broken = sorted(
        f"{module} imports {target}"
        for module, path in MODULES.items()
        if module == package or module.startswith(package + ".")
        for target in _imports(path)
        if any(target == bad or target.startswith(bad + ".") for bad in FORBIDDEN[package])
    )
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("lfe", ["torch", "transformers", "zarr"]),
        ("lfe.analysis", ["torch", "transformers", "zarr"]),
        ("lfe.store", ["torch", "transformers"]),
        ("lfe.workflows.analyze", ["torch", "transformers"]),
        ("lfe.workflows.evolve", ["torch", "transformers"]),
    ],
)
def test_importing_does_not_pull_in_heavy_packages(module, forbidden) -> None:
    code = f"import sys, {module}; print([m for m in {forbidden!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def _statements(node: ast.AST) -> int:
    """Statements in ``node``, nested ones included (a function's own ``def`` not counted)."""
    return sum(isinstance(child, ast.stmt) for child in ast.walk(node)) - isinstance(node, ast.stmt)


def test_modules_and_functions_stay_short() -> None:
    too_long = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        statements = _statements(tree)
        if statements > MODULE_STATEMENTS and LONG_MODULE_REASON not in (
            ast.get_docstring(tree) or ""
        ):
            too_long.append(f"{name}: {statements} statements, and its docstring gives no reason")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if (count := _statements(node)) > FUNCTION_STATEMENTS:
                    too_long.append(f"{name}.{node.name}: {count} statements")
    assert not too_long, "\n".join(too_long)
