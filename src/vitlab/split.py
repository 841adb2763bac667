"""The stratified train/val/test split, computed once per dataset and shared by every trial.

Per class with n images:
  n = 1   -> train only (it cannot be validated, but the model may still learn it);
  n = 2   -> 1 train, 1 val;
  n >= 3  -> val = max(1, floor(val_frac * n)), test = floor(test_frac * n), train = the rest.
The rule always keeps >= 1 train and >= 1 val image for n >= 2, so no class is only in val: the seed
run's random split put 186 classes only in val, which are 100 % errors by construction.

Each class is ordered by a hash of (seed, path as written in the manifest). The order therefore does
not depend on the manifest's line order or on other classes: adding a class reshuffles nothing else.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from vitlab.manifest import Record, read_manifest

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    train: tuple[Record, ...]
    val: tuple[Record, ...]
    test: tuple[Record, ...] = ()

    def parts(self) -> dict[str, tuple[Record, ...]]:
        return {"train": self.train, "val": self.val, "test": self.test}

    @property
    def classes(self) -> list[str]:
        """All labels of the dataset, sorted: the class index used by the model head."""
        return sorted({r.label for part in (self.train, self.val, self.test) for r in part})

    def class_counts(self) -> dict[str, int]:
        """Images per class in the whole dataset (all splits): what the min-images filter uses."""
        return dict(Counter(r.label for part in self.parts().values() for r in part))


def split_counts(n: int, val_frac: float = 0.1, test_frac: float = 0.1) -> tuple[int, int, int]:
    """(train, val, test) sizes for a class with ``n`` images."""
    check_fracs(val_frac, test_frac)
    if n < 1:
        raise ValueError(f"a class needs at least 1 image, got n={n}")
    if n == 1:
        return 1, 0, 0
    if n == 2:
        return 1, 1, 0
    # Fractions avoid float floors such as floor(0.7 * 10) == 6.
    val = max(1, math.floor(Fraction(str(val_frac)) * n))
    test = math.floor(Fraction(str(test_frac)) * n)
    # Large fractions on small classes: give back test first, then val, to keep one train image.
    overflow = max(0, val + test - (n - 1))
    test_back = min(test, overflow)
    test -= test_back
    val -= overflow - test_back
    return n - val - test, val, test


def shuffle_key(seed: int, key: str) -> str:
    """Order of an image inside its class: depends only on the seed and its own path."""
    return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()


def stratified_split(
    records: Iterable[Record], *, seed: int = 0, val_frac: float = 0.1, test_frac: float = 0.1
) -> Split:
    """Split per class; each part is sorted by (label, path) so output is order-independent."""
    check_fracs(val_frac, test_frac)
    by_class: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_class[r.label].append(r)
    parts: dict[str, list[Record]] = {name: [] for name in SPLITS}
    for members in by_class.values():
        members.sort(key=lambda r: (shuffle_key(seed, r.key), r.key))
        n_train, n_val, _ = split_counts(len(members), val_frac, test_frac)
        parts["val"] += members[:n_val]
        parts["train"] += members[n_val : n_val + n_train]
        parts["test"] += members[n_val + n_train :]
    return Split(*(tuple(sorted(parts[name], key=lambda r: (r.label, r.key))) for name in SPLITS))


def summarize(split: Split) -> dict[str, Any]:
    """The table the seed analysis used, as plain data (also written to split_summary.json)."""
    classes = {name: {r.label for r in part} for name, part in split.parts().items()}
    sizes = Counter(split.class_counts().values())
    n_classes = len(split.classes)
    n_images = {name: len(part) for name, part in split.parts().items()}
    train_counts = Counter(r.label for r in split.train)
    return {
        "classes": n_classes,
        "images": sum(n_images.values()),
        "classes_per_split": {name: len(c) for name, c in classes.items()},
        "images_per_split": n_images,
        "val_train_overlap": len(classes["val"] & classes["train"]),
        "classes_only_in_val": len(classes["val"] - classes["train"]),
        "classes_only_in_test": len(classes["test"] - classes["train"]),
        "classes_with_1_image": sizes[1],
        "classes_with_2_images": sizes[2],
        "classes_with_3plus_images": sum(v for k, v in sizes.items() if k >= 3),
        "singleton_fraction": round(sizes[1] / n_classes, 4) if n_classes else 0.0,
        "train_singleton_fraction": (
            round(sum(1 for c in train_counts.values() if c == 1) / len(train_counts), 4)
            if train_counts
            else 0.0
        ),
        "mean_images_per_class": {
            name: round(n_images[name] / len(c), 2) if c else 0.0 for name, c in classes.items()
        },
    }


def format_summary(summary: dict[str, Any]) -> str:
    """A terminal table like the seed analysis's."""
    cps, ips, mean = (
        summary["classes_per_split"],
        summary["images_per_split"],
        summary["mean_images_per_class"],
    )
    rows = [
        f"{'':22}{'train':>9}{'val':>9}{'test':>9}",
        f"{'classes':22}" + "".join(f"{cps[s]:>9,}" for s in SPLITS),
        f"{'images':22}" + "".join(f"{ips[s]:>9,}" for s in SPLITS),
        f"{'mean images/class':22}" + "".join(f"{mean[s]:>9.2f}" for s in SPLITS),
        "",
        f"classes {summary['classes']:,}, images {summary['images']:,}",
        f"val∩train overlap     {summary['val_train_overlap']:,} of {cps['val']:,} val classes",
        f"classes only in val   {summary['classes_only_in_val']:,}",
        f"classes by size       1 image: {summary['classes_with_1_image']:,}   "
        f"2 images: {summary['classes_with_2_images']:,}   "
        f"3+ images: {summary['classes_with_3plus_images']:,}",
        f"singleton fraction    {summary['singleton_fraction']:.1%} of classes",
    ]
    return "\n".join(rows)


def write_split(split: Split, out_dir: Path, summary: dict[str, Any] | None = None) -> None:
    """Write train/val/test JSONL and split_summary.json, byte-identical for the same split.

    Image paths are written relative to ``out_dir`` so that the files read back anywhere the
    same folder layout exists, and do not embed this machine's absolute paths.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in split.parts().items():
        _write_atomic(out_dir / f"{name}.jsonl", "".join(_jsonl_line(r, out_dir) for r in part))
    summary = summarize(split) if summary is None else summary
    _write_atomic(out_dir / "split_summary.json", json.dumps(summary, indent=2) + "\n")


def read_split(train: Path, val: Path, test: Path | None = None, **manifest_kwargs: Any) -> Split:
    """Read split files a user already has (for example ``dataset_train_stratified.jsonl``)."""
    parts = [read_manifest(p, **manifest_kwargs).records for p in (train, val)]
    test_records = read_manifest(test, **manifest_kwargs).records if test is not None else ()
    return Split(parts[0], parts[1], test_records)


def _jsonl_line(record: Record, out_dir: Path) -> str:
    rel = Path(os.path.relpath(record.path, out_dir.resolve())).as_posix()
    return (
        json.dumps({"path": rel, "label": record.label, **record.extra}, ensure_ascii=False) + "\n"
    )


def _write_atomic(path: Path, text: str) -> None:
    # A temp name of its own: several workers starting together all write the same split.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_fracs(
    val_frac: float, test_frac: float, names: tuple[str, str] = ("val_frac", "test_frac")
) -> None:
    """``ValueError`` unless both fractions are in [0, 1) and leave room for train images.

    ``names`` are what the user wrote: config keys, or the ``split`` command's flags.
    """
    for name, value in zip(names, (val_frac, test_frac), strict=True):
        if not 0.0 <= value < 1.0 or math.isnan(value):
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if val_frac + test_frac >= 1.0:
        raise ValueError(
            f"{names[0]} + {names[1]} must be < 1 to leave train images, got "
            f"{val_frac} + {test_frac}"
        )
