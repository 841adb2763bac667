"""A deterministic, procedurally generated long-tailed demo dataset of real PNG files.

``python -m study run`` with no data must work offline, so the first run writes a small dataset
that behaves like the seed team's plant data: hundreds of classes, a severe long tail (~28 %
singletons) and a taxonomy (family -> genus -> species) whose levels share visual features
(:mod:`vitlab.species` says what each species looks like and draws it).

Like crowd-sourced species photos, a fraction of the labels is wrong (``label_noise``): such an
image is labelled as a uniformly drawn other species, in every split (see :func:`noisy_labels`).
Memorising those labels is what costs a big unregularised model val accuracy here, as in the
seed's data; the manifest keeps the species actually drawn in a ``drawn`` field, for audits
(training reads only ``label``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vitlab.errors import UserError
from vitlab.species import MAX_CLASSES, class_names, render_image

DEMO_ROOT = Path("data/demo")
FORMAT_VERSION = 2  # bump whenever rendering or the manifest changes: stale stamps regenerate


@dataclass(frozen=True)
class DemoSpec:
    """Everything that determines the dataset; its JSON form is the on-disk stamp."""

    num_classes: int = 200
    image_size: int = 40
    seed: int = 0
    singleton_fraction: float = 0.28
    max_images: int = 120  # images in the most common class
    mean_images: float = 15.0  # mean images per class (sets the Zipf-Mandelbrot curvature)
    max_rotation_deg: float = 25.0  # bounded so horizontal/vertical stripes stay distinct
    hue_jitter: float = 0.03
    distractor_prob: float = 0.35
    # Shifts every hue band. Half the band spacing (0.07) gives 200 classes that share shapes and
    # textures with the demo but none of its colours: a disjoint set to pretrain on.
    hue_offset: float = 0.0
    # Fraction of images labelled as a uniformly drawn other species (see noisy_labels).
    label_noise: float = 0.2

    def __post_init__(self) -> None:
        if not 1 <= self.num_classes <= MAX_CLASSES:
            raise ValueError(f"num_classes must be in 1..{MAX_CLASSES}, got {self.num_classes}")
        if self.image_size < 16:
            raise ValueError(f"image_size must be >= 16, got {self.image_size}")
        if not 0.0 <= self.singleton_fraction < 1.0:
            raise ValueError(f"singleton_fraction must be in [0, 1), got {self.singleton_fraction}")
        if not 0.0 <= self.label_noise < 1.0:
            raise ValueError(f"label_noise must be in [0, 1), got {self.label_noise}")
        if self.max_images < 2:
            raise ValueError(f"max_images must be >= 2, got {self.max_images}")


def _zipf_mandelbrot(m: int, top: float, q: float) -> np.ndarray:
    """``m`` values falling from ``top`` at rank 0 to exactly 2 at rank m-1."""
    if m == 1:
        return np.array([top])
    a = np.log(top / 2.0) / np.log1p((m - 1) / q)
    return top * (1.0 + np.arange(m) / q) ** -a


def class_counts(spec: DemoSpec) -> list[int]:
    """Images per class (pure and deterministic): singleton tail + Zipf-Mandelbrot body.

    The body's offset ``q`` is solved by bisection so the mean is ~``spec.mean_images``; the
    rank -> class assignment is a seeded shuffle so tail-ness is not tied to one attribute.
    """
    n = spec.num_classes
    n_single = min(round(spec.singleton_fraction * n), n - 1) if n > 1 else 0
    m = n - n_single
    target = spec.mean_images * n - n_single
    lo, hi = 1e-3, 1e7  # small q: steep Zipf head; large q: geometric decay
    for _ in range(80):
        q = float(np.sqrt(lo * hi))
        lo, hi = (q, hi) if _zipf_mandelbrot(m, spec.max_images, q).sum() < target else (lo, q)
    body = np.clip(np.round(_zipf_mandelbrot(m, spec.max_images, q)), 2, spec.max_images)
    by_rank = [int(c) for c in body] + [1] * n_single
    order = np.random.default_rng([spec.seed, 0xC0FFEE]).permutation(n)
    counts = [0] * n
    for rank, cls in enumerate(order):
        counts[int(cls)] = by_rank[rank]
    return counts


def noisy_labels(spec: DemoSpec) -> list[list[int]]:
    """The class each image is labelled with, per drawn class (pure and deterministic).

    With probability ``spec.label_noise`` an image is labelled with another class drawn
    uniformly from the species list (a wrong pick from the list, or a scraping error); each image
    has its own RNG stream. Every class then holds a few foreign images, so in the tail, where a
    species has one to three images of its own, a model that memorises its labels learns noise.
    """
    out = []
    for c, count in enumerate(class_counts(spec)):
        labels = []
        for i in range(count):
            rng = np.random.default_rng([spec.seed, c, i, 0x4E015E])
            if spec.num_classes > 1 and rng.uniform() < spec.label_noise:
                other = int(rng.integers(spec.num_classes - 1))
                labels.append(other + (other >= c))  # any class but c, uniformly
            else:
                labels.append(c)
        out.append(labels)
    return out


def _stamp(spec: DemoSpec) -> dict:
    return {"format_version": FORMAT_VERSION, "spec": asdict(spec)}


def _is_current(root: Path, spec: DemoSpec) -> bool:
    try:
        stamp = json.loads((root / "demo.json").read_text())
    except (OSError, ValueError):
        return False
    return stamp == _stamp(spec) and (root / "manifest.jsonl").is_file()


def _write(tmp: Path, spec: DemoSpec) -> int:
    """Render every image into ``tmp`` and write the manifest, then the stamp (last)."""
    lines = []
    labels = noisy_labels(spec)
    for c, count in enumerate(class_counts(spec)):
        (tmp / "images" / f"{c:04d}").mkdir(parents=True)
        drawn = class_names(c, spec.hue_offset)["label"]
        for i in range(count):
            # One RNG per image: output is independent of generation order.
            arr = render_image(c, np.random.default_rng([spec.seed, c, i]), spec)
            rel = f"images/{c:04d}/{i:06d}.png"
            # Fixed options and no metadata: byte-identical PNGs across runs.
            Image.fromarray(arr).save(tmp / rel, format="PNG", compress_level=6)
            names = class_names(labels[c][i], spec.hue_offset)
            lines.append(json.dumps({"path": rel, **names, "drawn": drawn}))
    (tmp / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    (tmp / "demo.json").write_text(json.dumps(_stamp(spec), indent=2, sort_keys=True) + "\n")
    return len(lines)


def make_demo_dataset(
    root: Path = DEMO_ROOT, spec: DemoSpec = DemoSpec(), *, progress: bool = True
) -> Path:
    """Generate the demo dataset under ``root`` once; return ``root / "manifest.jsonl"``.

    A matching stamp means the data is already there. Otherwise it is written to a temporary
    sibling directory and renamed into place, so ``root`` never holds a half dataset.
    """
    root = Path(root)
    manifest = root / "manifest.jsonl"
    if _is_current(root, spec):
        return manifest
    if root.exists() and any(root.iterdir()) and not (root / "demo.json").exists():
        raise UserError(f"{root}: exists and is not a demo dataset; refusing to overwrite it")
    root.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        n_images = _write(tmp, spec)
        if _is_current(root, spec):  # another process finished first: keep its copy
            shutil.rmtree(tmp)
            return manifest
        if root.exists():  # stale or different spec: move aside, swap in, then delete
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
            os.replace(root, old / "data")
            try:
                os.replace(tmp, root)
            except BaseException:
                os.replace(old / "data", root)  # put the previous dataset back
                raise
            finally:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, root)
    except BaseException:  # includes KeyboardInterrupt: never leave temp dirs behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress:
        print(
            f"demo dataset: wrote {n_images} images of {spec.num_classes} classes to {root} "
            f"in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
    return manifest
