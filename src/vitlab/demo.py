"""A deterministic, procedurally generated long-tailed demo dataset of real PNG files.

``python -m study run`` with no data must work offline, so the first run writes a small dataset
that behaves like the seed team's plant data: hundreds of classes, a severe long tail (~28 %
singletons) and a taxonomy (family -> genus -> species) whose levels share visual features.
Each species is a combination of attributes that are learnable from the pixels -- family =
shape, genus = shape + hue band, species = genus + texture -- drawn with plenty of nuisance
variation (position, scale, rotation, colour jitter, cluttered background, distractors, noise)
so that a big model can memorise the training images while generalising needs invariance.

Like crowd-sourced species photos, a fraction of the labels is wrong (``label_noise``): such an
image is labelled as a uniformly drawn other species, in every split (see :func:`noisy_labels`).
Memorising those labels is what costs a big unregularised model val accuracy here, as in the
seed's data; the manifest keeps the species actually drawn in a ``drawn`` field, for audits
(training reads only ``label``).
"""

from __future__ import annotations

import colorsys
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

DEMO_ROOT = Path("data/demo")
FORMAT_VERSION = 2  # bump whenever rendering or the manifest changes: stale stamps regenerate

# (family name, genus stem) per shape; the order is the shape index.
SHAPES = [
    ("Discaceae", "discus"),
    ("Quadrataceae", "quadrum"),
    ("Trigonaceae", "trigonum"),
    ("Cruciaceae", "crux"),
    ("Anulaceae", "anulus"),
    ("Stellaceae", "stella"),
    ("Virgaceae", "virga"),
    ("Lunaceae", "luna"),
]
# (genus prefix, hue-band centre in [0, 1)); bands are >= 0.14 apart, jitter is much smaller.
HUES = [("Rubro", 0.0), ("Flavo", 0.14), ("Viridi", 0.33), ("Caeruleo", 0.58), ("Purpureo", 0.78)]
TEXTURES = ["levis", "transversa", "longitudinalis", "punctata", "tessellata"]
MAX_CLASSES = len(SHAPES) * len(HUES) * len(TEXTURES)


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


def class_attributes(class_index: int) -> tuple[int, int, int]:
    """(shape, hue, texture) of a class; shape varies fastest so small specs see every shape."""
    return class_index % 8, (class_index // 8) % 5, class_index // 40


def class_names(class_index: int, hue_offset: float = 0.0) -> dict[str, str]:
    """Pseudo-Latin ``label`` (species), ``genus`` and ``family`` of a class."""
    shape, hue, texture = class_attributes(class_index)
    family, stem = SHAPES[shape]
    prefix = HUES[hue][0]
    if hue_offset:  # other colours, other genera: no label is shared with the demo
        prefix = "Inter" + prefix.lower()
    genus = prefix + stem
    return {"label": f"{genus} {TEXTURES[texture]}", "genus": genus, "family": family}


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


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _shape_mask(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of a unit-size shape in object coordinates (u right, v down)."""
    r2 = u * u + v * v
    au, av = np.abs(u), np.abs(v)
    if shape == 0:  # disc
        return r2 <= 1.0
    if shape == 1:  # square
        return np.maximum(au, av) <= 0.8
    if shape == 2:  # triangle, apex up: three half-planes with inradius 0.5
        return (v <= 0.5) & (0.866 * u - 0.5 * v <= 0.5) & (-0.866 * u - 0.5 * v <= 0.5)
    if shape == 3:  # cross
        return ((au <= 0.3) & (av <= 1.0)) | ((av <= 0.3) & (au <= 1.0))
    if shape == 4:  # ring
        return (r2 <= 1.0) & (r2 >= 0.5**2)
    if shape == 5:  # five-pointed star
        return np.sqrt(r2) <= 0.6 + 0.4 * np.cos(5.0 * np.arctan2(u, -v))
    if shape == 6:  # bar
        return (au <= 1.0) & (av <= 0.35)
    return (r2 <= 1.0) & ((u - 0.5) ** 2 + v * v > 0.72**2)  # crescent


def _texture_mask(
    texture: int, pu: np.ndarray, pv: np.ndarray, rng: np.random.Generator
) -> np.ndarray | None:
    """Pixels darkened by the texture (None for plain); pu/pv are object-frame pixels."""
    period = rng.uniform(4.8, 6.4)
    su = 2 * np.pi * pu / period + rng.uniform(0, 2 * np.pi)  # random phase per image
    sv = 2 * np.pi * pv / period + rng.uniform(0, 2 * np.pi)
    if texture == 1:  # horizontal stripes
        return np.sin(sv) > 0
    if texture == 2:  # vertical stripes
        return np.sin(su) > 0
    if texture == 3:  # dots on a square lattice
        return (np.cos(su) > 0.45) & (np.cos(sv) > 0.45)
    if texture == 4:  # checkerboard
        return np.sin(su) * np.sin(sv) > 0
    return None


def render_image(class_index: int, rng: np.random.Generator, spec: DemoSpec) -> np.ndarray:
    """Draw one image of ``class_index`` as uint8 (H, W, 3); all randomness comes from ``rng``."""
    shape, hue, texture = class_attributes(class_index)
    size = spec.image_size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5

    # Background: a low-saturation colour unrelated to the class, a linear gradient and two
    # smooth random waves, so the model cannot key on a flat backdrop.
    img = np.broadcast_to(
        _hsv(rng.uniform(), rng.uniform(0, 0.35), rng.uniform(0.15, 0.9)), (size, size, 3)
    ).copy()
    ang = rng.uniform(0, 2 * np.pi)
    ramp = ((xx * np.cos(ang) + yy * np.sin(ang)) / size - 0.5)[..., None]
    img += rng.uniform(-0.3, 0.3) * ramp
    for _ in range(2):
        f = rng.uniform(0.5, 3.0, size=2) * 2 * np.pi / size
        wave = np.sin(f[0] * xx + f[1] * yy + rng.uniform(0, 2 * np.pi))
        img += wave[..., None] * rng.uniform(-0.08, 0.08, size=3)

    # Object: random centre, scale, aspect and bounded rotation; colour jittered in its band.
    cx, cy = size / 2 + rng.uniform(-0.12, 0.12, size=2) * size
    radius = size * rng.uniform(0.24, 0.36)
    theta = np.deg2rad(rng.uniform(-spec.max_rotation_deg, spec.max_rotation_deg))
    dx, dy = xx - cx, yy - cy
    pu = np.cos(theta) * dx + np.sin(theta) * dy  # object-frame pixel coordinates
    pv = -np.sin(theta) * dx + np.cos(theta) * dy
    aspect = rng.uniform(0.85, 1.15)
    mask = _shape_mask(shape, pu / (radius * aspect), pv * aspect / radius)
    band = HUES[hue][1] + spec.hue_offset + rng.uniform(-spec.hue_jitter, spec.hue_jitter)
    colour = _hsv(band, rng.uniform(0.6, 1.0), rng.uniform(0.55, 1.0))
    obj = np.broadcast_to(colour, (size, size, 3)).copy()
    tex = _texture_mask(texture, pu, pv, rng)
    if tex is not None:
        obj[tex] *= rng.uniform(0.35, 0.55)  # darken; hue survives so genus stays visible
    img[mask] = obj[mask]

    # Occasional distractor blob of any colour, anywhere (may occlude the object).
    if rng.uniform() < spec.distractor_prob:
        bx, by = rng.uniform(0, size, size=2)
        blob = (xx - bx) ** 2 + (yy - by) ** 2 <= rng.uniform(1.5, 3.5) ** 2
        img[blob] = _hsv(rng.uniform(), rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0))

    img += rng.normal(0.0, rng.uniform(0.01, 0.05), size=img.shape).astype(np.float32)
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


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
