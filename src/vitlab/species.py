"""The demo's species: what each class is, what it is called, and how one image of it is drawn.

Each species is a combination of attributes that are learnable from the pixels -- family =
shape, genus = shape + hue band, species = genus + texture -- drawn with plenty of nuisance
variation (position, scale, rotation, colour jitter, cluttered background, distractors, noise)
so that a big model can memorise the training images while generalising needs invariance.
Drawing an image differently changes the data: bump ``vitlab.demo.FORMAT_VERSION`` with it.
"""

from __future__ import annotations

import colorsys
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the spec's module imports this one
    from vitlab.demo import DemoSpec

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
