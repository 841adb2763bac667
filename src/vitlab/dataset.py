"""A dataset ready to train on: the fixed split, the class index and the image-cache rows.

Loaded once per study and shared by every trial, so every trial sees the same split, the same class
index and the same val images. The test split is carried (its images are cached for a later
confirmation step) but nothing in training or selection reads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitlab.cache import ImageCache, build_cache, cache_size_for
from vitlab.config import DataConfig
from vitlab.errors import UserError
from vitlab.filter import ClassFilter, min_images_filter
from vitlab.manifest import Manifest, OnMissing, Record, read_manifest
from vitlab.split import Split, read_split, stratified_split


@dataclass(frozen=True)
class Part:
    """One split as cache rows and class indices (unreadable images left out)."""

    rows: np.ndarray  # int64 rows in the image cache
    labels: np.ndarray  # int64 class indices

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, eq=False)
class Dataset:
    split: Split
    classes: tuple[str, ...]
    cache: ImageCache
    train: Part
    val: Part
    test: Part
    class_counts: dict[str, int]  # images per class over all splits: the filter's counts
    unreadable: int  # images listed but not decodable (skipped, listed in the cache's failed.tsv)
    fingerprint: str  # hash of the split's (path, label) lists: same data <=> same fingerprint

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def train_counts(self) -> np.ndarray:
        """Train images per class index: the head/mid/tail buckets of per-class reports."""
        return np.bincount(self.train.labels, minlength=self.num_classes)

    def class_filter(self, min_images: int) -> ClassFilter:
        return min_images_filter(self.class_counts, min_images)

    def kept_mask(self, class_filter: ClassFilter) -> np.ndarray:
        """(num_classes,) bool: classes the trial trains on."""
        return np.array([c in class_filter.kept for c in self.classes], dtype=bool)

    def kept_train(self, class_filter: ClassFilter) -> Part:
        """The train images of the kept classes: what a trial trains on.

        Only train is filtered: val and test stay whole, so every trial is scored on the same
        images (a dropped class's val images count as errors).
        """
        keep = self.kept_mask(class_filter)[self.train.labels]
        return Part(self.train.rows[keep], self.train.labels[keep])


def load_split(
    data: DataConfig, *, on_missing: OnMissing = "skip"
) -> tuple[Split, Manifest | None]:
    """The split a config names, and the manifest it was split from (None for split files).

    Split files are used as given; a manifest is split deterministically (``split_seed`` and the
    fractions). The manifest says what was left out (missing images, duplicate lines).
    """
    kwargs = {
        "image_root": data.image_root,
        "image_field": data.image_field,
        "label_field": data.label_field,
    }
    if data.train is not None:  # DataConfig checked: val is there too, and no manifest
        test = Path(data.test) if data.test else None
        return read_split(Path(data.train), Path(str(data.val)), test, **kwargs), None
    if data.manifest is None:
        raise UserError("data: no manifest and no train/val split files given")
    manifest = read_manifest(data.manifest, on_missing=on_missing, **kwargs)
    split = stratified_split(
        manifest.records, seed=data.split_seed, val_frac=data.val_frac, test_frac=data.test_frac
    )
    return split, manifest


def check_val_classes(split: Split, source: str) -> None:
    """UserError unless val images cover at least 2 classes: with one, val top-1 is 100 % by
    construction, and with none there is nothing to select trials on."""
    val_classes = sorted({r.label for r in split.val})
    if len(val_classes) >= 2:
        return
    counts = split.class_counts()
    if not split.val and max(counts.values(), default=1) == 1:
        problem = (
            f"every class has a single image: no val split ({len(counts)} classes; a class "
            "needs 2 images to have a val image)"
        )
    elif val_classes:
        problem = f"only 1 class ({val_classes[0]}) has val images"
    else:
        problem = "no val images"
    raise UserError(f"{source}: {problem}; a study needs val images of at least 2 classes")


def load_dataset(
    data: DataConfig,
    *,
    image_size: int,
    split: Split | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> Dataset:
    """Split (unless given), build or reuse the image cache, and index every part."""
    split = load_split(data)[0] if split is None else split
    check_val_classes(split, str(data.manifest or data.val))  # before the cache is built
    classes = tuple(split.classes)
    index = {c: i for i, c in enumerate(classes)}
    paths = sorted({r.path for part in split.parts().values() for r in part})
    cache = build_cache(
        paths,
        size=cache_size_for(image_size),
        root=Path(data.cache_root),
        workers=workers,
        progress=progress,
    )

    def part(records: tuple[Record, ...]) -> Part:
        rows = cache.rows([r.path for r in records])
        ok = cache.valid[rows]
        labels = np.fromiter((index[r.label] for r in records), dtype=np.int64, count=len(records))
        return Part(rows[ok], labels[ok])

    train, val, test = part(split.train), part(split.val), part(split.test)
    if len(train) == 0 or len(np.unique(val.labels)) < 2:
        what = "train images" if len(train) == 0 else "val images of 2 classes"
        raise UserError(f"no readable {what}: see {cache.directory / 'failed.tsv'}")
    return Dataset(
        split=split,
        classes=classes,
        cache=cache,
        train=train,
        val=val,
        test=test,
        class_counts=split.class_counts(),
        unreadable=int((~cache.valid).sum()),
        fingerprint=split_fingerprint(split),
    )


def split_fingerprint(split: Split) -> str:
    """sha256 over each part's (path as written, label) lines: identifies the data a study used."""
    h = hashlib.sha256()
    for name, part in split.parts().items():
        h.update(f"[{name}]\n".encode())
        for r in part:
            h.update(f"{r.key}\t{r.label}\n".encode())
    return h.hexdigest()
