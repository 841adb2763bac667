"""The min-images-per-class filter (a trial parameter).

It keeps the classes with >= k images in the *whole* dataset and removes the others from training
only. The split is not recomputed and evaluation always uses the full, fixed val split, where a
dropped class's images count as errors: comparing accuracies measured on different class subsets
would reward a trial for dropping the hard (rare) classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ClassFilter:
    min_images: int
    kept: frozenset[str]
    dropped: frozenset[str]

    @property
    def coverage(self) -> float:
        """Fraction of the dataset's classes the model is trained on."""
        total = len(self.kept) + len(self.dropped)
        return len(self.kept) / total if total else 0.0


def min_images_filter(class_counts: Mapping[str, int], min_images: int) -> ClassFilter:
    """Keep the classes with at least ``min_images`` images (counts over all splits)."""
    if isinstance(min_images, bool) or not isinstance(min_images, int) or min_images < 1:
        raise ValueError(f"min_images must be an integer >= 1, got {min_images!r}")
    kept = frozenset(c for c, n in class_counts.items() if n >= min_images)
    return ClassFilter(min_images, kept, frozenset(class_counts) - kept)
