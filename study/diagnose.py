"""Diagnose a per-epoch log from another tool with the report's classifier.

Reads timm's ``summary.csv`` (columns epoch, train_loss, eval_loss, eval_top1, eval_top5, with
top-1 in percent) or a JSONL of one object per epoch (epoch, train_loss, val_loss, val_top1 and
optionally train_top1, val_top5; our own ``metrics.jsonl`` is one). Either file may use either
naming. Epochs keep the numbers the file gives them (timm counts from 0), so the evidence points
at rows of the user's own file.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from study.analysis.failure import Diagnosis, EpochLog, classify
from vitlab.errors import UserError

UNITS = ("auto", "percent", "fraction")  # how top-1 is written; auto: CSV percent, JSONL by value
# Each EpochLog field and the column names that may hold it, ours first, then timm's.
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "train_loss": ("train_loss",),
    "val_loss": ("val_loss", "eval_loss"),
    "val_top1": ("val_top1", "eval_top1"),
    "train_top1": ("train_top1",),
    "val_top5": ("val_top5", "eval_top5"),
}
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")  # any other file: JSONL if it starts with "{"
REQUIRED = ("train_loss", "val_loss", "val_top1")
TOP = ("val_top1", "train_top1", "val_top5")


def _rows(path: Path) -> tuple[bool, list[tuple[int, dict[str, Any]]]]:
    """(is CSV, [(line number, row)]) of ``path``; UserError naming it when unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot be read ({e})") from None
    suffix = path.suffix.lower()
    is_csv = suffix == ".csv" or (suffix not in JSON_SUFFIXES and not text.lstrip().startswith("{"))
    if is_csv:
        reader = csv.DictReader(text.splitlines())
        return True, [(i + 2, dict(row)) for i, row in enumerate(reader)]
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}, line {i}: not JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}, line {i}: not a JSON object")
        rows.append((i, row))
    return False, rows


def _column(path: Path, found: set[str], field: str) -> str | None:
    names = [n for n in COLUMNS[field] if n in found]
    if names or field not in REQUIRED:
        return names[0] if names else None
    raise UserError(
        f"{path}: no {' or '.join(COLUMNS[field])} column; found "
        f"{', '.join(sorted(found)) or 'none'} (expected timm's summary.csv or a JSONL of epoch, "
        "train_loss, val_loss, val_top1)"
    )


def _number(path: Path, line: int, name: str, value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{path}, line {line}: {name} is not a number: {value!r}") from None
    return x if math.isfinite(x) else math.nan


def _values(path: Path, rows: list[tuple[int, dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    found = {k for _, row in rows for k in row if k is not None}
    columns = {field: _column(path, found, field) for field in COLUMNS}
    for order, (line, row) in enumerate(rows):
        values: dict[str, Any] = {"line": line}
        for field, name in columns.items():
            x = None if name is None else _number(path, line, name, row.get(name))
            if x is None and field in REQUIRED:
                raise UserError(f"{path}, line {line}: no {name} value")
            values[field] = x
        epoch = _number(path, line, "epoch", row.get("epoch"))
        values["epoch"] = order + 1 if epoch is None or math.isnan(epoch) else int(epoch)
        yield values


def read_metrics(path: str | Path, unit: str = "auto") -> tuple[tuple[EpochLog, ...], str]:
    """The epochs of ``path`` (top-1 as fractions) and the unit its top-1 was read in.

    ``unit`` "auto": percent for a CSV (timm writes percent), else percent only if a top-1 or
    top-5 value is above 1 (a fraction never is).
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    path = Path(path)
    is_csv, rows = _rows(path)
    if not rows:
        raise UserError(f"{path}: no epochs in it")
    values = list(_values(path, rows))
    if unit == "auto":
        over = any(v[k] is not None and v[k] > 1 for v in values for k in TOP)
        unit = "percent" if is_csv or over else "fraction"
    scale = 0.01 if unit == "percent" else 1.0
    epochs = tuple(
        EpochLog(
            epoch=v["epoch"],
            train_loss=v["train_loss"],
            val_loss=v["val_loss"],
            **{k: None if v[k] is None else v[k] * scale for k in TOP},
        )
        for v in values
    )
    return epochs, unit


def diagnose_file(
    path: str | Path, classes: int, *, val_images: int | None = None, unit: str = "auto"
) -> tuple[Diagnosis, str]:
    """The diagnosis of a log file and a one-line note on what was read."""
    epochs, unit = read_metrics(path, unit)
    note = f"{path}: {len(epochs)} epochs, top-1 read as {unit}, chance 1/{classes:,}"
    return classify(epochs, classes, val_images), note


def format_diagnosis(diagnosis: Diagnosis) -> str:
    """The headline, then one indented line per piece of evidence."""
    return "\n".join([diagnosis.headline, *(f"  - {e}" for e in diagnosis.evidence)])
