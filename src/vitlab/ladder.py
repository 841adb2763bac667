"""A one-scalar augmentation-strength ladder: plain data, so YAML can override it.

A study sweeps one strength ``s`` in [0, 1]; :func:`aug_params` maps it to concrete parameters by
linear interpolation between the rows of a ladder table. :mod:`vitlab.augment` applies them. This
module needs neither torch nor timm, so checking a config (and ``--help``) stays fast.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass

AUG_KEYS = (
    "crop_scale_min",
    "hflip",
    "color_jitter",
    "erase_prob",
    "randaug_magnitude",
    "mixup_alpha",
    "cutmix_alpha",
)
# Closed range per key (crop_scale_min must also be > 0); "s" itself is checked as [0, 1].
_RANGES = dict(zip(AUG_KEYS, [(0, 1)] * 4 + [(0, 10), (0, math.inf), (0, math.inf)], strict=True))

_ROWS = (  # s, then AUG_KEYS in order
    (0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0),  # the eval view, mirrored half the time
    (0.5, 0.35, 0.5, 0.4, 0.25, 0.0, 0.0, 0.0),  # the seed's fix: crop, flip, jitter, erasing
    (1.0, 0.08, 0.5, 0.4, 0.4, 9.0, 0.2, 0.2),  # + RandAugment m9 and mixup/cutmix
)
DEFAULT_LADDER: tuple[dict[str, float], ...] = tuple(
    dict(zip(("s", *AUG_KEYS), row, strict=True)) for row in _ROWS
)


@dataclass(frozen=True)
class AugParams:
    """Concrete augmentation parameters for one strength (see :data:`DEFAULT_LADDER`)."""

    crop_scale_min: float
    hflip: float
    color_jitter: float
    erase_prob: float
    randaug_magnitude: float
    mixup_alpha: float
    cutmix_alpha: float

    def __post_init__(self) -> None:
        for key, value in zip(AUG_KEYS, astuple(self), strict=True):
            if (problem := _problem(key, value)) is not None:
                raise ValueError(f"AugParams.{key}: {problem}")


def _problem(key: str, value: object) -> str | None:
    """Why ``value`` is not allowed for ``key``, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{value!r} is not a number"
    lo, hi = _RANGES.get(key, (0, 1))
    if not lo <= value <= hi or (key == "crop_scale_min" and value == 0):  # NaN fails too
        return f"{value!r} is outside {'(' if key == 'crop_scale_min' else '['}{lo:g}, {hi:g}]"
    return None


def validate_ladder(table: Sequence[Mapping[str, float]]) -> tuple[dict[str, float], ...]:
    """Check a ladder table and return it as float dicts; ValueError names the row and key."""
    if isinstance(table, (str, bytes, Mapping)) or not isinstance(table, Sequence):
        raise ValueError(f"augmentation ladder must be a list of rows, got {type(table).__name__}")
    rows: list[dict[str, float]] = []
    for i, raw in enumerate(table):
        if not isinstance(raw, Mapping):
            raise ValueError(f"augmentation ladder row {i}: {raw!r} is not a mapping")
        where = f"augmentation ladder row {i} (s={raw.get('s')!r})"
        if unknown := [k for k in raw if k != "s" and k not in _RANGES]:
            raise ValueError(
                f"{where}: unknown key {unknown[0]!r}; known: s, {', '.join(AUG_KEYS)}"
            )
        for key in ("s", *AUG_KEYS):
            if key not in raw:
                raise ValueError(f"{where}: missing key {key!r}")
            if (problem := _problem(key, raw[key])) is not None:
                raise ValueError(f"{where}: {key} {problem}")
        row = {key: float(raw[key]) for key in ("s", *AUG_KEYS)}
        if rows and row["s"] <= rows[-1]["s"]:
            raise ValueError(f"{where}: s must be strictly increasing (previous s={rows[-1]['s']})")
        for key in AUG_KEYS:  # stronger must never mean gentler
            down = key == "crop_scale_min"
            if rows and (row[key] > rows[-1][key] if down else row[key] < rows[-1][key]):
                trend = "non-increasing" if down else "non-decreasing"
                raise ValueError(f"{where}: {key}={row[key]:g} must be {trend} in s")
        rows.append(row)
    if len(rows) < 2 or rows[0]["s"] != 0 or rows[-1]["s"] != 1:
        span = f"{rows[0]['s']:g}..{rows[-1]['s']:g}" if rows else "nothing"
        raise ValueError(f"augmentation ladder must cover s in [0, 1] with >= 2 rows, got {span}")
    return tuple(rows)


def aug_params(strength: float, table: Sequence[Mapping[str, float]] = DEFAULT_LADDER) -> AugParams:
    """Parameters for ``strength`` in [0, 1], linearly interpolated between ladder rows."""
    if _problem("s", strength) is not None:
        raise ValueError(f"augmentation strength {strength!r} is not a number in [0, 1]")
    rows = validate_ladder(table)
    i = min(bisect.bisect_right([r["s"] for r in rows], strength), len(rows) - 1)
    a, b = rows[i - 1], rows[i]
    t = (strength - a["s"]) / (b["s"] - a["s"])
    # a*(1-t) + b*t hits both rows exactly at t=0 and t=1 (a + t*(b-a) can miss b by an ulp).
    return AugParams(**{k: a[k] * (1 - t) + b[k] * t for k in AUG_KEYS})
