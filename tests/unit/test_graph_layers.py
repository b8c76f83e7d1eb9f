"""Imports point one way: projections, entitlements -> resolvers -> graph -> web.

Checked on the source (AST), so a lazy import inside a function counts too. ``graph`` also
never imports the database driver: it reaches data only through the readers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What each of our packages must not import.
FORBIDDEN = {
    "resolvers": {"graph", "web"},
    "graph": {"web", "pymongo", "motor"},
    "observability": {"projections", "entitlements", "resolvers", "graph", "web", "simulator"},
}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant):
                roots.add(str(node.args[0].value).split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downstream_layers(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).glob("*.py"))
    }
    assert {p: bad for p, bad in offenders.items() if bad} == {}


def test_the_check_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import web.app\n    from pymongo import x\n")
    assert _imported_roots(module) == {"web", "pymongo"}
