"""The factorial fit: a hand-worked case, planted effects recovered, calibrated intervals,
partial and saturated designs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from study.ablate.design import Factor, factorial_design
from study.ablate.fit import Observation, expected_half_width, fit_factorial


def design(k: int):
    return factorial_design([Factor(f"p{i}", 0, 1) for i in range(k)])


def planted(d, effects, seeds, sd, rng, interaction=None):
    obs = []
    for row in d.rows:
        for s in range(seeds):
            value = 0.4 + sum(e / 2 * x for e, x in zip(effects, row, strict=True))
            if interaction:
                (i, j), size = interaction
                value += size / 2 * row[i] * row[j]
            obs.append(Observation(row, s, value + rng.normal(0, sd)))
    return obs


def test_one_factor_by_hand():
    d = design(1)
    obs = [Observation((-1,), 0, 0.40), Observation((-1,), 1, 0.42)]
    obs += [Observation((1,), 0, 0.50), Observation((1,), 1, 0.46)]
    fit = fit_factorial(d, obs)
    (e,) = fit.mains
    assert e.estimate == pytest.approx(0.07)  # 0.48 - 0.41
    sigma = math.sqrt((2 * 0.01**2 + 2 * 0.02**2) / 2)  # residuals about each level's mean
    half = student_t.ppf(0.975, 2) * sigma  # 2 * SE(beta) = 2 * sigma / 2
    assert (fit.residual_df, fit.sigma) == (2, pytest.approx(sigma))
    assert (e.low, e.high) == (pytest.approx(0.07 - half), pytest.approx(0.07 + half))
    assert not e.excludes_zero and fit.half_width == pytest.approx(half)


@pytest.mark.parametrize("k, seeds", [(4, 3), (6, 2)])
def test_planted_effects_are_recovered(k, seeds):
    effects = [0.06, -0.03, 0.015, 0.0, 0.04, -0.01][:k]
    rng = np.random.default_rng(2)  # a fixed draw; test_intervals_cover_at_their_level is
    d = design(k)  # what shows the intervals hold at 95 % over draws
    fit = fit_factorial(d, planted(d, effects, seeds, 0.01, rng, ((0, 1), 0.02)))
    assert fit.complete and fit.runs == len(d.rows) * seeds
    by_term = {e.term: e for e in fit.mains}
    for i, planted_effect in enumerate(effects):
        assert by_term[(i,)].low <= planted_effect <= by_term[(i,)].high
    order = sorted(range(k), key=lambda i: -abs(effects[i]))
    assert [e.term[0] for e in fit.mains] == order
    assert not by_term[(3,)].excludes_zero  # the null factor
    inter = {e.term: e for e in fit.interactions}[(0, 1)]
    assert inter.excludes_zero and inter.low <= 0.02 <= inter.high
    if k == 6:  # aliasing is stated: A = BCE = DEF
        assert by_term[(0,)].aliases == ("p1 × p2 × p4", "p3 × p4 × p5")


@pytest.mark.parametrize("k, seeds", [(3, 2), (6, 2)])
def test_intervals_cover_at_their_level(k, seeds):
    """Over 300 simulated ablations the 95 % intervals cover the planted effects ~95 % of
    the time: they are neither too narrow nor padded."""
    effects = list(np.linspace(-0.03, 0.06, k))
    rng = np.random.default_rng(7)
    d = design(k)
    hits = []
    for _ in range(300):
        fit = fit_factorial(d, planted(d, effects, seeds, 0.01, rng))
        hits += [e.low <= effects[e.term[0]] <= e.high for e in fit.mains]
    assert 0.93 <= np.mean(hits) <= 0.97


def test_a_saturated_design_has_no_interval():
    d = design(2)  # 4 points, 1 seed: intercept, 2 mains, 1 interaction = 4 columns
    fit = fit_factorial(d, planted(d, [0.05, 0.0], 1, 0.01, np.random.default_rng(0)))
    assert fit.residual_df == 0 and fit.sigma is None and fit.half_width is None
    assert all(e.low is None and not e.excludes_zero for e in fit.mains)


def test_a_partial_design_fits_main_effects_only():
    d = design(3)
    obs = planted(d, [0.05, 0.0, 0.0], 2, 0.01, np.random.default_rng(0))
    some = [o for o in obs if o.levels != (1, 1, 1)]
    fit = fit_factorial(d, some)
    assert not fit.complete and fit.interactions == () and fit.points == 7
    with pytest.raises(ValueError, match="too few"):
        fit_factorial(d, obs[:2])


def test_an_observation_off_the_design_is_refused():
    d = design(6)
    off = next(row for row in np.ndindex(*(2,) * 6) if tuple(2 * x - 1 for x in row) not in d.rows)
    levels = tuple(2 * x - 1 for x in off)
    with pytest.raises(ValueError, match="no design point"):
        fit_factorial(d, [Observation(levels, 0, 0.5)])


def test_the_expected_half_width_is_the_fit_s_at_that_sigma():
    d = design(4)
    obs = planted(d, [0.05, 0.02, 0.0, 0.01], 2, 0.01, np.random.default_rng(3))
    fit = fit_factorial(d, obs)
    assert expected_half_width(d, 2, fit.sigma) == pytest.approx(fit.half_width)
    assert expected_half_width(design(2), 1, 0.01) is None
