"""Errors a user can act on.

Anything raised as a :class:`UserError` is printed by the CLI as one clear line (no traceback
unless ``--debug``): the message must name the bad value and the file it came from.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem with the user's input or environment, not a bug in this package."""

    exit_code = 2  # what the CLI exits with
    prefix = "error: "  # what the CLI prints before the message


class ManifestError(UserError):
    """A manifest (JSONL, CSV or image folder) that cannot be read as a dataset."""

    def __init__(self, source: str | Path, problem: str, line: int | None = None) -> None:
        self.source = str(source)
        self.line = line
        self.problem = problem
        where = f"{self.source}, line {line}" if line is not None else self.source
        super().__init__(f"{where}: {problem}")


class TrainingError(UserError):
    """Training stopped for a reason the user can act on (NaN loss, out of memory...)."""
