"""The layering of every package, as ``pyproject.toml``'s import contracts state it.

``lint-imports`` (import-linter) checks the contracts; ``scripts/test`` runs it before pytest.
The tests here keep the check honest: every package of ours is under a contract, the
contracts hold on this tree, a wrong import for each shortcut they rule out is caught (in a
copy of the tree), and no module loads another by a name in a string, an arrow the import
graph cannot see.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Folders with Python packages that are not layers of the product: the tests themselves.
NOT_LAYERED = {"tests"}


def _config() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        config: dict[str, object] = tomllib.load(file)["tool"]["importlinter"]
    return config


def _our_packages() -> set[str]:
    return {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in NOT_LAYERED
    }


def test_every_package_is_under_the_contracts() -> None:
    config = _config()
    assert set(config["root_packages"]) == _our_packages()  # type: ignore[call-overload]
    pipeline = next(c for c in config["contracts"] if c["id"] == "pipeline")  # type: ignore[attr-defined]
    layered = {name.strip() for layer in pipeline["layers"] for name in layer.split("|")}
    assert layered == _our_packages()


def test_the_import_contracts_hold() -> None:
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(_config()['contracts'])} kept, 0 broken" in run.stdout  # type: ignore[arg-type]


#: One wrong import per shortcut the contracts rule out: (module to add, what it imports).
SHORTCUTS = {
    "graph/zz_shortcut.py": "entitlements.policy",
    "graph/zz_driver.py": "pymongo",
    "web/zz_shortcut.py": "resolvers.readers",
    "web/live/zz_shortcut.py": "projections.batch",
    "entitlements/zz_shortcut.py": "projections.summaries",
    "entitlements/zz_io.py": "aiokafka",
    "simulator/zz_shortcut.py": "projections.events",
    "projections/zz_shortcut.py": "entitlements.scope",
    "resolvers/zz_upward.py": "graph.schema",
    "readmodel/zz_upward.py": "resolvers.readers",
}


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports is not None, "import-linter is not installed (scripts/install)"
    return subprocess.run(
        [lint_imports, "--no-cache"], cwd=root, capture_output=True, text=True, check=False
    )


def test_each_shortcut_breaks_a_contract(tmp_path: Path) -> None:
    """A copy of the tree with one wrong import per shortcut: every one is reported."""
    copy = tmp_path / "tree"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy)
    for package in _our_packages():
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("*.pyc"))
    for module, imported in SHORTCUTS.items():
        (copy / module).write_text(f"import {imported}\n")
    run = _lint_imports(copy)
    assert run.returncode != 0
    for module, imported in SHORTCUTS.items():
        importer = module.removesuffix(".py").replace("/", ".")
        assert f"{importer} -> {imported}" in run.stdout, (importer, run.stdout)


def _loads_by_name(path: Path) -> list[int]:
    """Lines that import a module named in a string (``importlib.import_module``,
    ``__import__``): the import graph does not see those arrows."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in {"import_module", "__import__"}:
                lines.append(node.lineno)
    return lines


def test_no_module_imports_another_by_name() -> None:
    offenders = {
        str(path.relative_to(ROOT)): lines
        for package in sorted(_our_packages())
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := _loads_by_name(path))
    }
    assert offenders == {}


def test_the_name_check_sees_a_hidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import importlib\n\ndef f():\n    return importlib.import_module('web.live')\n"
    )
    assert _loads_by_name(module) == [4]
