"""No test module imports another test module: what tests share lives in helper modules
(``tests/helpers.py``, the harnesses, ``tests/unit/strategies.py``...) and fixtures in a
``conftest.py``.

Importing a test module runs its collection-time code and can register its fixtures and tests
a second time under another name; and a helper kept in one test file is found by nobody
looking for it.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _is_test_module(dotted: str) -> bool:
    return dotted.startswith("tests.") and dotted.rsplit(".", 1)[-1].startswith("test_")


def imports_of_test_modules(tests: Path = TESTS) -> list[str]:
    """Each import of a test module in a ``.py`` file under ``tests``, as ``path:line``."""
    found: list[str] = []
    for path in sorted(tests.rglob("*.py")):
        relative = path.relative_to(tests.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text("utf-8"), relative)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            tests_imported = [m for m in modules if _is_test_module(m)]
            found += [f"{relative}:{node.lineno} imports {m}" for m in tests_imported]
    return found


def test_no_test_module_imports_another() -> None:
    assert imports_of_test_modules() == []


def test_the_check_finds_each_form_of_such_an_import(tmp_path: Path) -> None:
    unit = tmp_path / "tests" / "unit"
    unit.mkdir(parents=True)
    (unit / "helpers_ok.py").write_text("from tests.unit.strategies import event\n")
    (unit / "test_a.py").write_text(
        "from tests.unit.test_b import helper\n"
        "from tests.integration import test_c\n"
        "import tests.unit.test_d\n"
    )
    assert imports_of_test_modules(tmp_path / "tests") == [
        "tests/unit/test_a.py:1 imports tests.unit.test_b",
        "tests/unit/test_a.py:2 imports tests.integration.test_c",
        "tests/unit/test_a.py:3 imports tests.unit.test_d",
    ]
