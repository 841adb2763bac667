"""The layout's import rules (README, "Layout"): which study folder may import which.

A folder that imports one it must not is a cycle waiting to happen: the pruners would need a
runner to be tested, the report a dashboard to be drawn.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import study

PACKAGE = Path(study.__file__).resolve().parent

# folder -> the study modules and folders it may import (besides itself); None: anything.
ALLOWED: dict[str, set[str] | None] = {
    "pruners": {"records"},
    "space": {"records", "pruners"},
    "dashboard": {"records", "storage", "commands"},
    # frame, predictions: planted.py; ablate: the designs and fits the measured section shows
    "analysis": {"records", "frame", "predictions", "ablate"},
    "report": {
        "records",
        "frame",
        "predictions",
        "storage",
        "analysis",
        "dashboard",
        "ablate",
        "confirm",
        "audit",
    },
    "ablate": None,
    "confirm": None,
    "audit": None,
    "run": None,
    "cli": None,
}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` outside ``if TYPE_CHECKING:`` blocks (imports for types only)."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        nodes.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def study_imports(path: Path) -> set[str]:
    """The first component under ``study.`` of every study import in ``path`` that runs."""
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "study":
                names = [f"study.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        found |= {n.split(".")[1] for n in names if n.startswith("study.")}
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_a_folder_imports_only_what_the_layout_allows(folder: str) -> None:
    allowed = ALLOWED[folder]
    sources = sorted((PACKAGE / folder).glob("*.py"))
    assert PACKAGE / folder / "__init__.py" in sources  # the folder exists
    if allowed is None:
        return
    bad = {
        p.name: sorted(study_imports(p) - allowed - {folder})
        for p in sources
        if study_imports(p) - allowed - {folder}
    }
    assert bad == {}


# The top-level modules serve every folder, so they import none that runs or parses a study.
TOP_LEVEL_NEVER = {"run", "cli", "dashboard"}


def test_the_top_level_modules_import_neither_run_nor_cli_nor_dashboard() -> None:
    sources = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__main__.py")
    assert PACKAGE / "records.py" in sources
    bad = {p.name: sorted(study_imports(p) & TOP_LEVEL_NEVER) for p in sources}
    assert {name: found for name, found in bad.items() if found} == {}


def test_study_imports_sees_every_form_of_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import study.run.runner\nfrom study import records\nfrom study.space.spec import X\n"
        "def f():\n    from study.dashboard import notes\n"
        "if TYPE_CHECKING:\n    from study.cli import main\n"
    )
    assert study_imports(source) == {"run", "records", "space", "dashboard"}


def test_no_study_module_is_over_300_lines() -> None:
    lengths = {
        str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")
    }
    assert "records.py" in lengths
    assert {name: n for name, n in lengths.items() if n > 300} == {}


def test_no_study_function_is_over_60_lines() -> None:
    long = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > 60:
                    long[f"{path.relative_to(PACKAGE)}:{node.name}"] = lines
    assert long == {}
