"""Reading YAML: one loader and one number rule for every file the tool reads.

Train configs, search spaces and the benchmarks all read YAML through :func:`read_yaml`, so
``1e-3`` means the same everywhere, and no file can use anchors or aliases: an alias is a
reference, and a few lines of nested aliases expand to gigabytes once the data is copied or
serialised (a "billion laughs"). None of our files need them, so they are refused outright.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from vitlab.errors import UserError


class _Refused(yaml.MarkedYAMLError):
    """An anchor or an alias, reported with its position like any other YAML error."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with YAML 1.2 exponents and without anchors or aliases."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        # Every node passes through here before it is built, so nothing aliased is ever shared.
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(problem=f"alias *{event.anchor}", problem_mark=event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise _Refused(problem=f"anchor &{event.anchor}", problem_mark=event.start_mark)
        return super().compose_node(parent, index)


# YAML 1.1 (PyYAML) reads 1e-3 as a string: it wants 1.0e-3. Configs are full of such numbers.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _parse(text: str, source: str | Path, error: type[UserError] = UserError) -> Any:
    """The YAML document in ``text``; ``error`` (one line naming ``source`` and the line) if not."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}" if mark is not None else str(source)
        if isinstance(e, _Refused):
            raise error(
                f"{where}: YAML anchors and aliases are not allowed ({e.problem}): "
                "write the values out"
            ) from None
        problem = getattr(e, "problem", None) or str(e)
        raise error(f"{where}: not valid YAML ({' '.join(str(problem).split())})") from None
    except RecursionError:  # PyYAML composes and builds nested nodes recursively
        raise error(
            f"{source}: not valid YAML (nested too deeply: over {sys.getrecursionlimit()} levels)"
        ) from None


def read_yaml(path: Path, error: type[UserError] = UserError, what: str = "file") -> Any:
    """The YAML document in file ``path``; ``error`` naming the file (a ``what``) if unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except (IsADirectoryError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot read ({e})") from None
    return _parse(text, path, error)
