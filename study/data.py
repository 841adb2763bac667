"""Dataset preparation for the CLI: the data a config names (or the demo), its split and files,
and its image cache."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from vitlab.cache import build_cache, cache_size_for
from vitlab.config import DataConfig
from vitlab.dataset import load_split
from vitlab.demo import DEMO_ROOT, make_demo_dataset
from vitlab.errors import UserError
from vitlab.manifest import Manifest, OnMissing, read_manifest, write_missing_report
from vitlab.split import SPLITS, Split, format_summary, summarize, write_split

SPLITS_ROOT = Path("results/splits")
SPLIT_FILES = (*(f"{name}.jsonl" for name in SPLITS), "split_summary.json", "missing_images.txt")


@dataclass(frozen=True)
class PreparedSplit:
    data: DataConfig  # what was split, the demo's manifest filled in where none was named
    split: Split
    summary: dict[str, Any]
    out_dir: Path | None = None  # where a manifest's split was written (None: split files)
    manifest: Manifest | None = None  # the manifest that was split (None: split files)

    @property
    def source(self) -> str:
        """The manifest, or the split files as "train + val"."""
        return self.data.manifest or f"{self.data.train} + {self.data.val}"

    @property
    def files(self) -> dict[str, str]:
        """The train and val split files (a manifest's, as written; or the ones given)."""
        if self.out_dir is not None:
            return {name: str(self.out_dir / f"{name}.jsonl") for name in ("train", "val")}
        return {"train": str(self.data.train), "val": str(self.data.val)}

    def describe(self) -> str:
        """One line: where the split came from, its sizes, and where its files are."""
        s = self.summary
        where = f" (files in {self.out_dir})" if self.out_dir is not None else ""
        return (
            f"split of {self.source}: {s['images_per_split']['train']:,} train / "
            f"{s['images_per_split']['val']:,} val images of {s['classes']:,} classes{where}"
        )


def default_split_dir(manifest: Path | None) -> Path:
    """results/splits/<name>: 'demo' for the demo data, else the manifest's file or folder stem."""
    if manifest is None:
        return SPLITS_ROOT / "demo"
    return SPLITS_ROOT / (manifest.stem if manifest.is_file() else manifest.name)


def demo_manifest(progress: bool = True, out: TextIO | None = None) -> Path:
    """The demo dataset's manifest, generated into data/demo/ the first time.

    Only called where no data was named, so it says in one line that the demo is used.
    """
    manifest = make_demo_dataset(DEMO_ROOT, progress=progress)
    print(f"no data given: using the demo dataset {manifest}", file=out or sys.stdout)
    return manifest


def with_demo_data(data: DataConfig, out: TextIO | None = None) -> DataConfig:
    """``data`` if it names a manifest or split files, else the same settings on the demo."""
    if data.names_source:
        return data
    return dataclasses.replace(data, manifest=str(demo_manifest(out=out)))


def prepare_split(
    data: DataConfig,
    out_dir: Path | None = None,
    *,
    on_missing: OnMissing = "skip",
    out: TextIO | None = None,
) -> PreparedSplit:
    """The split ``data`` names (the demo's if none): split files as given, or a manifest split
    and written to ``out_dir`` as train/val/test JSONL plus split_summary.json.

    Missing images are listed in ``out_dir/missing_images.txt``.
    """
    demo = not data.names_source
    data = with_demo_data(data, out)
    if data.manifest is None:  # the user's split files: they are the record, nothing to write
        split, _ = load_split(data, on_missing=on_missing)
        return PreparedSplit(data, split, summarize(split))
    source = Path(data.manifest)
    out_dir = out_dir if out_dir is not None else default_split_dir(None if demo else source)
    _check_out_dir(out_dir, source)
    split, manifest = load_split(data, on_missing=on_missing)
    assert manifest is not None  # a manifest was named
    summary = {
        **summarize(split),
        "manifest": str(source),
        "seed": data.split_seed,
        "val_frac": data.val_frac,
        "test_frac": data.test_frac,
        "missing_images": len(manifest.missing),
        "duplicate_lines": manifest.duplicates,
    }
    write_split(split, out_dir, summary)
    report = out_dir / "missing_images.txt"
    if manifest.missing:
        write_missing_report(manifest, report)
    elif report.exists():
        report.unlink()  # a stale report from an earlier run would mislead
    return PreparedSplit(data, split, summary, out_dir, manifest)


def split_report(prepared: PreparedSplit) -> str:
    """What ``split`` prints about a manifest's split: its sizes, what was skipped, its files."""
    if prepared.out_dir is None:
        raise ValueError("split_report: split files were given, nothing was split or written")
    s = prepared.summary
    lines = [f"split of {s['manifest']} (seed {s['seed']})", format_summary(s)]
    if s["missing_images"]:
        lines.append(
            f"skipped {s['missing_images']:,} missing image file(s): listed in "
            f"{prepared.out_dir / 'missing_images.txt'}"
        )
    if s["duplicate_lines"]:
        lines.append(f"dropped {s['duplicate_lines']:,} duplicate line(s)")
    lines.append(f"wrote {prepared.out_dir}/{{train,val,test}}.jsonl and split_summary.json")
    return "\n".join(lines)


def cache_images(
    data: DataConfig,
    image_size: int,
    *,
    cache_size: int | None = None,
    workers: int | None = None,
    on_missing: OnMissing = "skip",
    out: TextIO | None = None,
) -> str:
    """Every image of ``data``'s manifest (the demo's if none) decoded and resized once into the
    image cache under ``data.cache_root``; returns the line ``cache`` prints about it.

    The stored side is ``cache_size``, else the one ``image_size`` crops need.
    """
    data = with_demo_data(data, out)
    assert data.manifest is not None  # the demo's, if none was named
    manifest = read_manifest(
        data.manifest,
        image_root=data.image_root,
        image_field=data.image_field,
        label_field=data.label_field,
        on_missing=on_missing,
    )
    size = cache_size or cache_size_for(image_size)
    paths = sorted(r.path for r in manifest.records)
    cache = build_cache(paths, size=size, root=Path(data.cache_root), workers=workers)
    return (
        f"cache {cache.directory}: {len(cache):,} images at {size}x{size}, "
        f"{len(cache.failed):,} unreadable (listed in {cache.directory / 'failed.tsv'})"
    )


def _check_out_dir(out_dir: Path, manifest: Path) -> None:
    """The split folder can be made and writing it cannot replace the manifest being split."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir}: exists and is not a folder; name a folder for the split")
    if any((out_dir / name).resolve() == manifest.resolve() for name in SPLIT_FILES):
        raise UserError(
            f"--out {out_dir}: writing the split there would overwrite the manifest {manifest}; "
            "name another folder"
        )
