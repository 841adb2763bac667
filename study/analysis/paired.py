"""Two trials compared on the same val images: far tighter than two independent accuracies.

Every image is right or wrong for each trial, so only the images where they disagree carry the
difference. The interval is a paired bootstrap over images; drawing n images with replacement
only changes how many fall in each of the three outcomes (b right only, a right only, both the
same), so each resample is one multinomial draw: exact, and fast at any number of images.
McNemar's exact test (a binomial test on the disagreements) gives the p-value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

RESAMPLES = 10_000
LEVEL = 0.95


@dataclass(frozen=True)
class PairedDifference:
    """val top-1 of b minus a, in fractions (0.01 = one point), on the same ``images``."""

    difference: float
    low: float  # the paired bootstrap's interval at LEVEL
    high: float
    p_value: float  # McNemar's exact test
    images: int
    only_b: int  # images b gets right and a gets wrong
    only_a: int

    @property
    def beyond_noise(self) -> bool:
        """Whether the interval excludes zero."""
        return self.low > 0 or self.high < 0


def paired_difference(
    a_correct: np.ndarray, b_correct: np.ndarray, *, resamples: int = RESAMPLES, seed: int = 0
) -> PairedDifference:
    """b's val top-1 minus a's, from two bool arrays over the same images in the same order."""
    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a_correct and b_correct must be equal 1-d arrays: {a.shape}, {b.shape}")
    n = len(a)
    if n == 0:
        raise ValueError("no images to compare")
    only_b, only_a = int((b & ~a).sum()), int((a & ~b).sum())
    draws = np.random.default_rng(seed).multinomial(
        n, [only_b / n, only_a / n, (n - only_b - only_a) / n], size=resamples
    )
    diffs = (draws[:, 0] - draws[:, 1]) / n
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    discordant = only_a + only_b
    p = binomtest(only_b, discordant, 0.5).pvalue if discordant else 1.0
    return PairedDifference(
        difference=(only_b - only_a) / n,
        low=float(low),
        high=float(high),
        p_value=float(p),
        images=n,
        only_b=only_b,
        only_a=only_a,
    )
