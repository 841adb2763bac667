"""The engine knows nothing of Optuna or the study package: vitlab trains without them."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import vitlab

FORBIDDEN = ("optuna", "study")
ENGINE = Path(vitlab.__file__).resolve().parent


def imported_roots(source: str) -> set[str]:
    """The top-level package of every import statement in ``source``, nested ones too."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_engine_module_imports_optuna_or_study_directly() -> None:
    sources = sorted(ENGINE.rglob("*.py"))
    assert ENGINE / "train.py" in sources  # the walk found the engine
    direct = {
        str(path.relative_to(ENGINE)): sorted(imported_roots(path.read_text()) & set(FORBIDDEN))
        for path in sources
    }
    assert {name: roots for name, roots in direct.items() if roots} == {}


# Imports every vitlab module in a fresh interpreter: catches imports through other packages
# and dynamic ones that the source check cannot see.
IMPORT_ALL = """
import importlib, json, pkgutil, sys
import vitlab
names = [m.name for m in pkgutil.walk_packages(vitlab.__path__, "vitlab.")]
for name in names:
    importlib.import_module(name)
loaded = sorted(n for n in sys.modules if n.split(".")[0] in %r)
print(json.dumps({"modules": names, "loaded": loaded}))
"""


def test_importing_every_engine_module_loads_neither_optuna_nor_study() -> None:
    r = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL % (FORBIDDEN,)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert "vitlab.train" in result["modules"]
    assert result["loaded"] == []
