"""Read a dataset manifest: a JSONL file, a CSV file with a header, or an image folder.

Every reader returns the same :class:`Manifest`: one :class:`Record` per image with its label, the
path as the manifest wrote it (``key``, machine-independent, used for hashing and shuffling) and the
absolute path to read. Extra fields (``genus``, ``family``...) are kept for per-group analysis.

Bad input raises :class:`~vitlab.errors.ManifestError` naming the file, the line and the problem.
Missing image files are not an input error: they are counted, listed, and skipped unless the
caller asks for ``on_missing="error"``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vitlab.errors import ManifestError

IMAGE_FIELDS = ("path", "image", "file", "filepath", "image_path", "filename")
LABEL_FIELDS = ("label", "class", "species", "category")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})

OnMissing = Literal["skip", "error"]


@dataclass(frozen=True)
class Record:
    """One image and its label."""

    path: str  # absolute path of the image file
    label: str
    key: str  # the path as written in the manifest: stable across machines
    line: int = 0  # 1-based line in the manifest (0 for image folders)
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class MissingImage:
    line: int
    path: str


@dataclass(frozen=True)
class Manifest:
    """The readable records of one manifest, plus what had to be left out."""

    source: Path
    records: tuple[Record, ...]
    missing: tuple[MissingImage, ...] = ()
    duplicates: int = 0  # lines repeating an earlier (path, label): dropped


Row = tuple[int, str, str, dict[str, Any]]  # line, path as written, label, extra fields


def read_manifest(
    source: str | Path,
    *,
    image_root: str | Path | None = None,
    image_field: str | None = None,
    label_field: str | None = None,
    on_missing: OnMissing = "skip",
    check_files: bool = True,
) -> Manifest:
    """Read ``source`` (JSONL, CSV or an image folder) into a :class:`Manifest`.

    Relative image paths resolve against ``image_root`` when given, else the manifest's folder.
    """
    source = Path(source)
    if on_missing not in ("skip", "error"):
        raise ValueError(f"on_missing must be 'skip' or 'error', got {on_missing!r}")
    if not source.exists():
        raise ManifestError(source, "no such file or folder")
    root, rows = _rows(source, image_root, image_field, label_field)
    records, missing, duplicates = _collect(source, root, rows, check_files)
    _check_found(source, root, records, missing, on_missing)
    return Manifest(source, tuple(records), tuple(missing), duplicates)


def _rows(
    source: Path,
    image_root: str | Path | None,
    image_field: str | None,
    label_field: str | None,
) -> tuple[Path, Iterable[Row]]:
    """The folder relative paths resolve against, and the rows of ``source`` by its type."""
    if source.is_dir():
        root = Path(image_root) if image_root is not None else source
        rows: Iterable[Row] = _read_folder(source)
    else:
        root = Path(image_root) if image_root is not None else source.parent
        suffix = source.suffix.lower()
        if suffix in JSONL_SUFFIXES:
            rows = _read_table(source, _jsonl_rows(source), image_field, label_field)
        elif suffix == ".csv":
            rows = _read_table(source, _csv_rows(source), image_field, label_field)
        else:
            raise ManifestError(
                source, f"unknown manifest type {suffix!r}: use .jsonl, .csv or an image folder"
            )
    root = root.resolve()
    if image_root is not None and not root.is_dir():
        raise ManifestError(source, f"--image-root {str(image_root)!r} is not a folder")
    return root, rows


def _collect(
    source: Path, root: Path, rows: Iterable[Row], check_files: bool
) -> tuple[list[Record], list[MissingImage], int]:
    """(records, missing images, duplicate lines): a repeated (path, label) is dropped, a path
    listed with two labels is an error."""
    records: list[Record] = []
    missing: list[MissingImage] = []
    seen: dict[str, Record] = {}
    duplicates = 0
    for line, raw_path, label, extra in rows:
        path = os.path.normpath(os.path.join(root, raw_path))
        earlier = seen.get(path)
        if earlier is not None:
            if earlier.label != label:
                raise ManifestError(
                    source,
                    f"image {raw_path!r} has label {label!r} here but {earlier.label!r} "
                    f"on line {earlier.line}",
                    line,
                )
            duplicates += 1
            continue
        record = Record(path=path, label=label, key=raw_path, line=line, extra=extra)
        seen[path] = record
        if check_files and not os.path.isfile(path):
            missing.append(MissingImage(line, path))
            continue
        records.append(record)
    return records, missing, duplicates


def _check_found(
    source: Path,
    root: Path,
    records: list[Record],
    missing: list[MissingImage],
    on_missing: OnMissing,
) -> None:
    """ManifestError for an empty manifest, for no image found, or for any missing image when
    ``on_missing`` is "error"."""
    if not records and not missing:
        raise ManifestError(source, "the manifest is empty: no images listed")
    if missing and on_missing == "error":
        first = ", ".join(f"{m.path} (line {m.line})" for m in missing[:3])
        raise ManifestError(
            source,
            f"{len(missing)} image file(s) not found, e.g. {first}; resolve paths with "
            "--image-root, or drop --missing error to skip them",
        )
    if not records:
        raise ManifestError(
            source,
            f"none of the {len(missing)} listed image files exists, e.g. "
            f"{missing[0].path}; relative paths resolve against {root} (set --image-root)",
        )


def write_missing_report(manifest: Manifest, path: Path) -> None:
    """List the missing images (line, path), one per line, so a user can fix the manifest."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# {len(manifest.missing)} image file(s) listed in {manifest.source} not found\n")
        for m in manifest.missing:
            f.write(f"{m.line}\t{m.path}\n")


def _jsonl_rows(source: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(source, encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                problem = f"malformed JSON ({e.msg} at column {e.colno})"
                raise ManifestError(source, problem, number) from None
            if not isinstance(obj, dict):
                raise ManifestError(
                    source, f"expected a JSON object, got {type(obj).__name__}", number
                )
            yield number, obj


def _csv_rows(source: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(source, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise ManifestError(source, "the manifest is empty: no header line")
        for row in reader:
            if None in row:  # more cells than header names
                raise ManifestError(source, "more values than header columns", reader.line_num)
            yield reader.line_num, row


def _pick_field(
    source: Path,
    line: int,
    obj: Mapping[str, Any],
    given: str | None,
    candidates: tuple[str, ...],
    what: str,
) -> str:
    if given is not None:
        return given
    for name in candidates:
        if name in obj:
            return name
    raise ManifestError(
        source,
        f"no {what} field: expected one of {', '.join(candidates)} (found "
        f"{', '.join(map(str, obj)) or 'none'}); name it with --{what}-field",
        line,
    )


def _read_table(
    source: Path,
    rows: Iterator[tuple[int, dict[str, Any]]],
    image_field: str | None,
    label_field: str | None,
) -> Iterator[Row]:
    """Pick the image and label fields from the first row; every row must then have both."""
    for line, obj in rows:
        image_field = _pick_field(source, line, obj, image_field, IMAGE_FIELDS, "image")
        label_field = _pick_field(source, line, obj, label_field, LABEL_FIELDS, "label")
        raw_path = obj.get(image_field)
        label = obj.get(label_field)
        for name, value in ((image_field, raw_path), (label_field, label)):
            if value is None:
                raise ManifestError(source, f"missing field {name!r}", line)
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise ManifestError(
                    source, f"field {name!r} must be a string, got {json.dumps(value)}", line
                )
            if not str(value).strip():
                raise ManifestError(source, f"empty {name!r}", line)
        extra = {
            k: v for k, v in obj.items() if k not in (image_field, label_field, "path", "label")
        }
        yield line, str(raw_path).strip(), str(label).strip(), extra


def _read_folder(root: Path) -> Iterator[Row]:
    """One sub-folder per class; files in the root itself are ignored."""
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ManifestError(root, "an image folder needs one sub-folder per class; found none")
    for class_dir in classes:
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames.sort()
            for name in sorted(filenames):
                if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    rel = Path(dirpath, name).relative_to(root).as_posix()
                    yield 0, rel, class_dir.name, {}
