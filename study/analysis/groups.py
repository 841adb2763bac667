"""Val top-1 of sets of classes (the long tail's buckets, the ``--group-by`` groups), and the
rule for the groups that most need data.

A set's val top-1 is its correct val images over its val images, with a 95 % Wilson score
interval (exact enough at a handful of images, where the normal interval leaves [0, 1]). The
sets partition the classes, so their correct and image counts add up exactly to the overall.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from study.analysis.findings import Interval
from study.analysis.inputs import Predictions
from study.analysis.markup import MISSING, Html, paragraph, pct, table

LEVEL = 0.95
NEED_DATA = 15  # the groups the page lists as most needing data
HARDEST = 15  # the hardest classes listed
DROPPED = "dropped (min_images)"  # what a predicted class of -1 is shown as


@dataclass(frozen=True)
class Share:
    """One set of classes: its size in classes and train images, and its val top-1."""

    name: str
    classes: int  # classes in the set
    val_classes: int  # of them, the ones with at least one val image
    train_images: int
    images: int  # val images
    correct: int
    top1: Interval | None  # Wilson interval; None without val images

    @property
    def train_per_class(self) -> float:
        return self.train_images / self.classes if self.classes else 0.0


@dataclass(frozen=True)
class GroupsInfo:
    """The best trial's val top-1 per group of classes (a manifest field such as ``genus``)."""

    field: str
    trial: int
    groups: tuple[Share, ...]  # lowest top-1 first (no val images last), then more images, name
    overall: Share
    need_data: tuple[str, ...]  # by NEED_DATA_RULE, fewest train images per class first


@dataclass(frozen=True)
class HardClass:
    name: str
    train_images: int
    images: int  # val images
    top1: Interval
    instead: str | None  # the class most often predicted instead (None: never wrong)
    instead_images: int  # how many val images it took


NEED_DATA_RULE = (
    "a group needs data when its val top-1 is below the overall beyond noise (the upper end of "
    "its 95 % interval is under the overall top-1) and it has no more train images per class "
    "than the median group; fewest train images per class first"
)


def wilson(correct: int, images: int) -> Interval | None:
    """``correct / images`` with its Wilson score interval at LEVEL (None when ``images`` is 0)."""
    if images <= 0:
        return None
    z = float(norm.ppf(0.5 + LEVEL / 2))
    p = correct / images
    centre = (p + z * z / (2 * images)) / (1 + z * z / images)
    half = z * math.sqrt(p * (1 - p) / images + z * z / (4 * images**2)) / (1 + z * z / images)
    # at 0 or all correct the bound is exactly 0 or 1; the formula leaves rounding dust
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    return Interval(p, low, 1.0 if correct == images else min(1.0, centre + half))


def mean_interval(values: Sequence[float]) -> Interval | None:
    """The mean of the finite ``values`` with its 95 % t-interval (one value: infinite)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return None
    mean = float(x.mean())
    if len(x) == 1:
        return Interval(mean, -math.inf, math.inf)
    half = float(student_t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return Interval(mean, mean - half, mean + half)


def shares(
    names: Sequence[str],
    member: np.ndarray,
    train_counts: np.ndarray,
    labels: np.ndarray,
    correct: np.ndarray,
) -> tuple[Share, ...]:
    """One Share per name: class ``c`` is in set ``member[c]``; val image ``j`` has class
    ``labels[j]`` and is right when ``correct[j]``."""
    k = len(names)
    in_val = np.bincount(labels, minlength=len(member)) > 0
    classes = np.bincount(member, minlength=k)
    val_classes = np.bincount(member[in_val], minlength=k)
    train = np.bincount(member, weights=train_counts, minlength=k)
    images = np.bincount(member[labels], minlength=k)
    right = np.bincount(member[labels[correct]], minlength=k)
    return tuple(
        Share(
            name=name,
            classes=int(classes[i]),
            val_classes=int(val_classes[i]),
            train_images=int(round(train[i])),
            images=int(images[i]),
            correct=int(right[i]),
            top1=wilson(int(right[i]), int(images[i])),
        )
        for i, name in enumerate(names)
    )


def overall(parts: Sequence[Share]) -> Share:
    """The sum of a partition's sets."""
    images, right = sum(s.images for s in parts), sum(s.correct for s in parts)
    return Share(
        "all",
        sum(s.classes for s in parts),
        sum(s.val_classes for s in parts),
        sum(s.train_images for s in parts),
        images,
        right,
        wilson(right, images),
    )


def get_groups_info(
    field: str,
    trial: int,
    classes: Sequence[str],
    class_groups: Mapping[str, str],
    train_counts: np.ndarray,
    pred: Predictions,
) -> GroupsInfo:
    """Per group of ``class_groups`` (class name -> group); a class it lacks is in the group
    "(no <field>)"."""
    missing = f"(no {field})"
    of_class = [class_groups.get(c, missing) for c in classes]
    names = sorted(set(of_class))
    index = {name: i for i, name in enumerate(names)}
    member = np.array([index[g] for g in of_class], dtype=np.int64)
    parts = shares(names, member, train_counts, pred.labels, pred.correct)
    ordered = sorted(
        parts,
        key=lambda s: (s.top1 is None, s.top1.estimate if s.top1 else 0.0, -s.images, s.name),
    )
    total = overall(parts)
    return GroupsInfo(field, trial, tuple(ordered), total, need_data(parts, total))


def need_data(parts: Sequence[Share], total: Share) -> tuple[str, ...]:
    """The groups that most need data, by NEED_DATA_RULE (at most NEED_DATA)."""
    if total.top1 is None:
        return ()
    median = float(np.median([s.train_per_class for s in parts])) if parts else 0.0
    needy = [
        s
        for s in parts
        if s.top1 is not None and s.top1.high < total.top1.estimate and s.train_per_class <= median
    ]
    needy.sort(key=lambda s: (s.train_per_class, s.top1.estimate, s.name))
    return tuple(s.name for s in needy[:NEED_DATA])


def hardest_classes(
    names: Sequence[str], counts: np.ndarray, pred: Predictions
) -> tuple[HardClass, ...]:
    """The HARDEST classes of lowest val accuracy (ties: more val images, then name)."""
    n = np.bincount(pred.labels, minlength=len(names))
    right = np.bincount(pred.labels[pred.correct], minlength=len(names))
    seen = np.flatnonzero(n > 0)
    order = sorted(seen, key=lambda c: (Fraction(int(right[c]), int(n[c])), -n[c], names[c]))[
        :HARDEST
    ]
    wrong = ~pred.correct
    instead: dict[int, Counter[int]] = {int(c): Counter() for c in order}
    for label, p in zip(pred.labels[wrong].tolist(), pred.predicted[wrong].tolist(), strict=True):
        if label in instead:
            instead[label][p] += 1
    found = []
    for c in order:
        # ties: the lower class index, so the choice does not depend on image order
        top = min(instead[int(c)].items(), key=lambda kv: (-kv[1], kv[0]), default=None)
        found.append(
            HardClass(
                name=names[c],
                train_images=int(counts[c]),
                images=int(n[c]),
                top1=wilson(int(right[c]), int(n[c])),
                instead=None if top is None else class_name(names, top[0]),
                instead_images=0 if top is None else top[1],
            )
        )
    return tuple(found)


def class_name(names: Sequence[str], index: int) -> str:
    if index == -1:
        return DROPPED
    return names[index] if 0 <= index < len(names) else f"class {index}"


def top1_text(interval: Interval | None) -> str:
    """ "42.3 % (38.1–46.5 %)": val top-1 with its 95 % interval."""
    if interval is None:
        return "no val images"
    if not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return f"{pct(interval.estimate)} (one trial: no interval)"
    return f"{pct(interval.estimate)} ({pct(interval.low)[:-2]}–{pct(interval.high)})"


def draw_groups(info: GroupsInfo, shown: int = 30) -> Html:
    """The groups of lowest val top-1 (at most ``shown``) and the ones that most need data."""
    head = ["group", "classes", "val images", "val top-1 (95 % interval)", "train images/class"]
    rows = [
        [g.name, g.classes, g.images, top1_text(g.top1), f"{g.train_per_class:.1f}"]
        for g in info.groups[:shown]
    ]
    total = info.overall
    row = [total.classes, total.images, top1_text(total.top1), f"{total.train_per_class:.1f}"]
    rows.append(["all", *row])
    need = (
        paragraph(f"Groups that most need data ({NEED_DATA_RULE}):", ", ".join(info.need_data))
        if info.need_data
        else paragraph(
            "No group is both below the overall val top-1 beyond noise and short of train "
            f"images (the rule: {NEED_DATA_RULE})."
        )
    )
    more = len(info.groups) - shown
    return Html(
        paragraph(
            f"Val top-1 of trial #{info.trial} per {info.field} ({len(info.groups)} groups"
            + (f"; the {shown} of lowest top-1 shown)." if more > 0 else ").")
        )
        + table(head, rows)
        + need
    )


def draw_hardest(trial: int | None, hardest: Sequence[HardClass]) -> Html:
    """The hardest classes, each with the class predicted instead most often."""
    head = ["class", "train images", "val images", "val top-1 (95 % interval)"]
    head += ["predicted instead", "of its val images"]
    rows = [
        [c.name, c.train_images, c.images, top1_text(c.top1), c.instead or MISSING]
        + ([f"{c.instead_images} of {c.images}"] if c.instead else [MISSING])
        for c in hardest
    ]
    intro = paragraph(
        f"The hardest classes of the best trial (#{trial}): lowest val top-1 first, and the "
        "class it predicted instead most often."
    )
    return Html(intro + table(head, rows))
