"""Dataset preparation for the CLI: the manifest (or the demo), the split, and its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitlab.demo import DEMO_ROOT, make_demo_dataset
from vitlab.manifest import Manifest, OnMissing, read_manifest, write_missing_report
from vitlab.split import Split, stratified_split, summarize, write_split

SPLITS_ROOT = Path("results/splits")


@dataclass(frozen=True)
class PreparedSplit:
    out_dir: Path
    manifest: Manifest
    split: Split
    summary: dict[str, Any]


def default_split_dir(manifest: Path | None) -> Path:
    """results/splits/<name>: 'demo' for the demo data, else the manifest's file or folder stem."""
    if manifest is None:
        return SPLITS_ROOT / "demo"
    return SPLITS_ROOT / (manifest.stem if manifest.is_file() else manifest.name)


def demo_manifest(progress: bool = True) -> Path:
    """The demo dataset's manifest, generated into data/demo/ the first time."""
    return make_demo_dataset(DEMO_ROOT, progress=progress)


def prepare_split(
    manifest_path: Path | None = None,
    out_dir: Path | None = None,
    *,
    seed: int = 0,
    val_frac: float = 0.1,
    test_frac: float = 0.1,
    image_root: Path | None = None,
    image_field: str | None = None,
    label_field: str | None = None,
    on_missing: OnMissing = "skip",
) -> PreparedSplit:
    """Read the manifest, split it, and write train/val/test JSONL plus split_summary.json.

    Missing images are listed in ``out_dir/missing_images.txt``.
    """
    out_dir = out_dir if out_dir is not None else default_split_dir(manifest_path)
    source = manifest_path if manifest_path is not None else demo_manifest()
    manifest = read_manifest(
        source,
        image_root=image_root,
        image_field=image_field,
        label_field=label_field,
        on_missing=on_missing,
    )
    split = stratified_split(manifest.records, seed=seed, val_frac=val_frac, test_frac=test_frac)
    summary = {
        **summarize(split),
        "manifest": str(source),
        "seed": seed,
        "val_frac": val_frac,
        "test_frac": test_frac,
        "missing_images": len(manifest.missing),
        "duplicate_lines": manifest.duplicates,
    }
    write_split(split, out_dir, summary)
    report = out_dir / "missing_images.txt"
    if manifest.missing:
        write_missing_report(manifest, report)
    elif report.exists():
        report.unlink()  # a stale report from an earlier run would mislead
    return PreparedSplit(out_dir, manifest, split, summary)
