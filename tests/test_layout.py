"""The package's shape: no import circles, and settings read from the environment in one place."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "rag"
# Not settings: whether a desktop is there to open a browser on.
ENVIRONMENT_READS_ALLOWED = {"rag.apps.web.app": {"DISPLAY", "WAYLAND_DISPLAY"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def rag_imports(path: Path) -> set[str]:
    """The rag modules a module imports, at any level (a function's lazy import counts too).

    `from rag.store import lexical` names the module rag.store.lexical, not the package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rag":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return found - {module_name(path)}


def test_no_module_imports_itself_through_others() -> None:
    graph = {name: rag_imports(path) for name, path in MODULES.items()}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for needed in sorted(graph.get(module, ())):
            assert needed not in path, "import circle: " + " -> ".join([*path[path.index(needed) :], needed])
            if needed not in done:
                visit(needed, [*path, needed])
        done.add(module)

    for module in sorted(graph):
        visit(module, [module])


def environment_reads(path: Path) -> set[str]:
    """Names read with os.environ.get / os.getenv / os.environ[...] (writes and copies pass)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            target = ast.unparse(node.func)
            if target in {"os.environ.get", "os.getenv"}:
                key = node.args[0]
        elif (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.ctx, ast.Load)
        ):
            key = node.slice
        if key is not None:
            names.add(str(key.value) if isinstance(key, ast.Constant) else ast.unparse(key))
    return names


def test_settings_are_read_from_the_environment_only_in_settings_py() -> None:
    for name, path in MODULES.items():
        if name != "rag.settings":
            extra = environment_reads(path) - ENVIRONMENT_READS_ALLOWED.get(name, set())
            assert not extra, f"{name} reads {sorted(extra)}: add a field to rag/settings.py"


# Modules may grow past this only with a reason written here.
MAX_MODULE_LINES = 400
LONG_MODULES: dict[str, str] = {}


def test_each_module_stays_small_enough_to_read() -> None:
    long = {
        name: lines
        for name, path in MODULES.items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
        and name not in LONG_MODULES
    }
    assert not long, f"over {MAX_MODULE_LINES} lines: {long}; split them (or say why in LONG_MODULES)"


def test_every_rag_import_names_a_module_that_exists() -> None:
    """Lazy imports inside functions included: mypy (ignore_missing_imports) would not say."""
    missing = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rag":
                known = node.module in MODULES or all(
                    f"{node.module}.{a.name}" in MODULES for a in node.names
                )
                if not known:
                    missing.append(f"{name}: from {node.module} import …")
    assert not missing, missing
