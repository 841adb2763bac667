"""The paired comparison: its counts, interval, p-value and their coverage over resampled splits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from study.analysis.paired import paired_difference


def bools(text: str) -> np.ndarray:
    return np.array([c == "1" for c in text])


@pytest.mark.parametrize(
    ("a", "b", "difference", "only_b", "only_a"),
    [
        ("1100", "1100", 0.0, 0, 0),
        ("1100", "1110", 0.25, 1, 0),
        ("1100", "0011", 0.0, 2, 2),
        ("1111", "0000", -1.0, 0, 4),
    ],
)
def test_the_counts_and_difference_come_from_the_disagreements(a, b, difference, only_b, only_a):
    d = paired_difference(bools(a), bools(b), resamples=200)
    assert (d.difference, d.only_b, d.only_a, d.images) == (difference, only_b, only_a, len(a))
    assert d.low <= d.difference <= d.high


def test_identical_trials_have_a_zero_width_interval_and_p_one():
    d = paired_difference(bools("1010"), bools("1010"))
    assert (d.low, d.high, d.p_value, d.beyond_noise) == (0.0, 0.0, 1.0, False)


def test_the_p_value_is_mcnemars_exact_test():
    a = bools("0" * 30 + "1" * 70)
    b = bools("1" * 12 + "0" * 18 + "1" * 70)  # 12 images only b gets right, none only a
    d = paired_difference(a, b)
    assert d.p_value == pytest.approx(binomtest(12, 12, 0.5).pvalue)
    assert d.beyond_noise and d.low > 0


def test_pairing_is_tighter_than_two_independent_accuracies():
    # Two trials that share most of their errors: 40 % right, b fixes 8 of 300 images.
    rng = np.random.default_rng(0)
    a = rng.random(300) < 0.4
    b = a.copy()
    b[np.flatnonzero(~a)[:8]] = True
    d = paired_difference(a, b)
    unpaired = 1.96 * np.sqrt(2 * 0.4 * 0.6 / 300)  # the half-width as if independent
    assert (d.high - d.low) / 2 < unpaired / 3
    assert d.beyond_noise


def test_the_interval_covers_the_true_difference_near_95_percent():
    # Each image: b's chance of being right beyond a's is known, so the true difference is too.
    rng = np.random.default_rng(1)
    n, covered, runs = 326, 0, 300
    expected = 0.6 * 0.10 - 0.4 * 0.05  # b fixes 10 % of a's errors and breaks 5 % of its hits
    for seed in range(runs):
        a = rng.random(n) < 0.4
        flip = rng.random(n)
        b = np.where(a, flip > 0.05, flip < 0.10)
        d = paired_difference(a, b, resamples=2000, seed=seed)
        covered += d.low <= expected <= d.high
    assert 0.90 <= covered / runs <= 0.985


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [("10", "101", "equal 1-d"), ("", "", "no images")],
)
def test_bad_inputs_are_value_errors(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_difference(bools(a), bools(b))
