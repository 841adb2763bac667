"""The answer section's facts about the data: the split, and what a plain random split of the
same manifest would have done. Each is plain data from the study record.

The random-split counterfactual. A plain random 80/10/10 split shuffles every image of the
manifest and cuts the list: val = floor(10 % of N), test = floor(10 % of N), train = the rest
(the sizes of a random split as the seed's team made it). For a class of k images the
chance of each outcome is exact (hypergeometric, the split sizes fixed):

- P(no train image)          = C(N - T, k) / C(N, k)
- P(no train and no val)     = C(S, k) / C(N, k)   (every image in test)
- only in val  = in val and not in train = P(no train) - P(every image in test)
- train class never validated = in train and not in val = P(no val) - P(every image in test)

The expected counts are the sums over classes (through log-gamma, to ~1e-9 relative). Beside
them, the range over RANDOM_SPLITS seeded shuffles shows how much one split varies.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from study.analysis.markup import MISSING, Html, paragraph, pct, table

SPLITS = ("train", "val", "test")
RANDOM_FRACTIONS = (Fraction(8, 10), Fraction(1, 10), Fraction(1, 10))  # train, val, test
RANDOM_SPLITS = 20  # seeded shuffles behind the range shown beside the exact expectation
RANDOM_SEED = 0


@dataclass(frozen=True)
class SplitTable:
    """The seed analysis's split table (:func:`vitlab.split.format_summary`); None: not recorded."""

    classes: tuple[int | None, ...]  # per split, in SPLITS order
    images: tuple[int | None, ...]
    mean_images: tuple[float | None, ...]  # mean images per class
    total_classes: int | None
    total_images: int | None
    val_train_overlap: int | None
    classes_only_in_val: int | None
    train_never_validated: int | None  # train classes with no val image
    classes_by_size: tuple[int | None, int | None, int | None]  # 1, 2, 3+ images
    singleton_fraction: float | None


@dataclass(frozen=True)
class RandomSplit:
    """What a plain random 80/10/10 split of the same images would have done (see the module)."""

    sizes: tuple[int, int, int]  # train, val, test images
    classes_only_in_val: float  # expected
    classes_only_in_val_range: tuple[int, int]  # min, max over RANDOM_SPLITS shuffles
    train_never_validated: float
    train_never_validated_range: tuple[int, int]
    val_images_untrained: float  # expected val images whose class has no train image
    shuffles: int = RANDOM_SPLITS


def _num(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)


def get_split_table(summary: dict[str, Any]) -> SplitTable | None:
    """The split table from a study's split summary (None: no summary recorded)."""
    if not summary:
        return None
    per = {key: summary.get(key) or {} for key in ("classes_per_split", "images_per_split")}
    mean = summary.get("mean_images_per_class") or {}
    cps = per["classes_per_split"]
    overlap = _num(summary.get("val_train_overlap"), int)
    never = (
        cps.get("train") - overlap if cps.get("train") is not None and overlap is not None else None
    )
    return SplitTable(
        classes=tuple(_num(cps.get(s), int) for s in SPLITS),
        images=tuple(_num(per["images_per_split"].get(s), int) for s in SPLITS),
        mean_images=tuple(_num(mean.get(s), float) for s in SPLITS),
        total_classes=_num(summary.get("classes"), int),
        total_images=_num(summary.get("images"), int),
        val_train_overlap=overlap,
        classes_only_in_val=_num(summary.get("classes_only_in_val"), int),
        train_never_validated=never,
        classes_by_size=(
            _num(summary.get("classes_with_1_image"), int),
            _num(summary.get("classes_with_2_images"), int),
            _num(summary.get("classes_with_3plus_images"), int),
        ),
        singleton_fraction=_num(summary.get("singleton_fraction"), float),
    )


def random_split_sizes(images: int) -> tuple[int, int, int]:
    """(train, val, test) images of a plain random 80/10/10 split of ``images`` images."""
    val, test = (math.floor(f * images) for f in RANDOM_FRACTIONS[1:])
    return images - val - test, val, test


def get_random_split(class_counts: Sequence[int]) -> RandomSplit | None:
    """The random-split counterfactual for images per class ``class_counts`` (None: empty)."""
    counts = [int(c) for c in class_counts if int(c) > 0]
    n = sum(counts)
    if n == 0:
        return None
    t, v, s = random_split_sizes(n)
    only_val = never = untrained = 0.0
    # Classes of the same size share their probabilities: a few hundred sizes, not 10^4 classes.
    for k, classes in Counter(counts).items():
        no_train, no_val, all_test = (_none_among(n, m, k) for m in (n - t, n - v, s))
        only_val += classes * (no_train - all_test)
        never += classes * (no_val - all_test)
        # Given no train image, each of its k images is val with chance v / (n - t).
        if n > t:
            untrained += classes * no_train * k * v / (n - t)
    only_range, never_range = _shuffled_ranges(np.asarray(counts), (t, v))
    return RandomSplit(
        sizes=(t, v, s),
        classes_only_in_val=only_val,
        classes_only_in_val_range=only_range,
        train_never_validated=never,
        train_never_validated_range=never_range,
        val_images_untrained=untrained,
    )


def _none_among(n: int, m: int, k: int) -> float:
    """C(m, k) / C(n, k): the chance that k of n shuffled images all fall in m given places.
    Through log-gamma: the exact big integers take seconds at 10^5 images."""
    if k > m:
        return 0.0
    return math.exp(
        math.lgamma(m + 1) - math.lgamma(m - k + 1) - math.lgamma(n + 1) + math.lgamma(n - k + 1)
    )


def _shuffled_ranges(
    counts: np.ndarray, sizes: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    labels = np.repeat(np.arange(len(counts)), counts)
    rng = np.random.default_rng(RANDOM_SEED)
    only_val, never = [], []
    for _ in range(RANDOM_SPLITS):
        order = rng.permutation(labels)
        train = np.bincount(order[: sizes[0]], minlength=len(counts)) > 0
        val = np.bincount(order[sizes[0] : sizes[0] + sizes[1]], minlength=len(counts)) > 0
        only_val.append(int((val & ~train).sum()))
        never.append(int((train & ~val).sum()))
    return (min(only_val), max(only_val)), (min(never), max(never))


def _cell(value: Any, fmt: str = ",") -> str:
    return MISSING if value is None else format(value, fmt)


def _draw_table(split: SplitTable) -> Html:
    """The seed analysis's table; a row or fact the summary lacks is left out."""
    per_split = [
        ("classes", *(_cell(c) for c in split.classes)),
        ("images", *(_cell(c) for c in split.images)),
        ("mean images/class", *(_cell(c, ".2f") for c in split.mean_images)),
    ]
    one, two, more = (_cell(c) for c in split.classes_by_size)
    facts = [
        ("classes", split.total_classes, _cell(split.total_classes)),
        ("images", split.total_images, _cell(split.total_images)),
        (
            "val∩train overlap",
            split.val_train_overlap,
            f"{_cell(split.val_train_overlap)} of {_cell(split.classes[1])} val classes",
        ),
        ("classes only in val", split.classes_only_in_val, _cell(split.classes_only_in_val)),
        (
            "classes by size",
            split.classes_by_size[0],
            f"1 image: {one}   2 images: {two}   3+ images: {more}",
        ),
        (
            "singleton fraction",
            split.singleton_fraction,
            pct(split.singleton_fraction) + " of classes",
        ),
    ]
    rows = [r for r in per_split if any(c != MISSING for c in r[1:])]
    kept = [(name, text) for name, value, text in facts if value is not None]
    return Html(
        (table(("", *SPLITS), rows) if rows else "")
        + (table(("", "all splits"), kept) if kept else "")
    )


def draw_split(split: SplitTable | None, random: RandomSplit | None) -> Html:
    """The split table and, beside it, what a random 80/10/10 split would have done."""
    if split is None:
        mine = paragraph("The study record has no split summary, so its split is not shown.")
    else:
        mine = _draw_table(split)
    if random is None:
        theirs = paragraph("No images per class recorded: the random split is not estimated.")
    else:
        rows = [
            (
                "classes only in val",
                _cell(split.classes_only_in_val if split else None),
                f"{random.classes_only_in_val:,.1f}",
                "{:,}–{:,}".format(*random.classes_only_in_val_range),
            ),
            (
                "train classes never validated",
                _cell(split.train_never_validated if split else None),
                f"{random.train_never_validated:,.1f}",
                "{:,}–{:,}".format(*random.train_never_validated_range),
            ),
            ("val images of untrained classes", MISSING, f"{random.val_images_untrained:,.1f}", ""),
        ]
        t, v, s = random.sizes
        head = (
            "",
            "this study's split",
            f"random 80/10/10 ({t:,}/{v:,}/{s:,} images): expected",
            f"range over {random.shuffles} shuffles",
        )
        theirs = Html(
            table(head, rows)
            + paragraph(
                "Expectations are exact over random shuffles of the same images (hypergeometric). "
                "A class only in val is 100 % errors by construction; a train class never "
                "validated is learned but never measured."
            )
        )
    return Html(
        '<div style="display:flex;gap:32px;flex-wrap:wrap">'
        f"<div>{mine}</div><div>{theirs}</div></div>"
    )
