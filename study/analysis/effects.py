"""Section 2's effects: what moving one parameter from the baseline's value to the best trial's
does to val top-1, estimated from the search's trials, with a bootstrap interval over trials.

The method is least squares on the finished trials: val top-1 as a constant plus one curve per
parameter (additive, so "the other parameters at the baseline" cancels out of the difference).
A numeric parameter's curve is linear on its [0, 1]-scaled range (log scale where it is searched
on one); once the study has the trials to rank (see
:data:`study.analysis.findings.MIN_TRIALS_PER_PARAM`) a square term is added to a parameter only
where it lowers the fit's Bayesian information criterion: a curve the trials support. A square
term for every parameter was tried first: a sampler that crowds its trials near the best values
leaves the curve's ends to extrapolation, and on planted linear effects (7 parameters, 120 TPE
trials) it widened the interval of the largest effect from +-4 to +-13 points. A categorical
parameter gets one level per category. The
interval is a pairs bootstrap: resample trials with replacement, refit, recompute. The
direction in words comes from the fitted curve over the observed range, and only claims a
trend (or a peak) whose bootstrap interval excludes zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution

from study.analysis.findings import MIN_TRIALS_PER_PARAM, Interval
from study.analysis.importance import LEVEL, choice_of

METHOD = (
    "least squares on the finished trials: val top-1 as a sum of one curve per parameter "
    "(linear in each numeric one, on its log scale where searched on one, with a square term "
    "where it lowers the Bayesian information criterion; one level per category), the other "
    "parameters held at the baseline; 95 % intervals from a bootstrap over trials"
)
RESAMPLES = 400
MIN_RESIDUAL_DF = 10  # fewer spare trials than this: a bootstrap of the fit means nothing
GRID = 21
NO_DIRECTION = "no clear direction in this study"


@dataclass(frozen=True)
class Effect:
    """One parameter's effect (None: not estimable) and its direction in words."""

    effect: Interval | None
    direction: str


@dataclass(frozen=True)
class _Term:
    """How one parameter enters the fit: a scaled number, or categories against a reference."""

    name: str
    dist: BaseDistribution
    low: float = 0.0  # numeric: the scaled range's ends, on the log scale if log
    high: float = 1.0
    levels: tuple[Any, ...] = ()  # categorical: the levels with a column (not the reference)
    reference: Any = None  # categorical: the level every other is measured against
    degree: int = 1

    @property
    def width(self) -> int:
        return len(self.levels) if isinstance(self.dist, CategoricalDistribution) else self.degree

    def scale(self, x: Any) -> float:
        t = math.log(float(x)) if getattr(self.dist, "log", False) else float(x)
        return (t - self.low) / (self.high - self.low) if self.high > self.low else 0.0

    def unscale(self, u: float) -> float:
        t = self.low + u * (self.high - self.low)
        return math.exp(t) if getattr(self.dist, "log", False) else t

    def features(self, x: Any) -> np.ndarray:
        if isinstance(self.dist, CategoricalDistribution):
            level = choice_of(x, self.dist)
            if level != self.reference and level not in self.levels:
                raise ValueError(f"{self.name}: no trial used {level!r}")
            return np.array([float(level == c) for c in self.levels])
        u = self.scale(x)
        return np.array([u**d for d in range(1, self.degree + 1)])


def fmt(value: Any) -> str:
    """A parameter value for a sentence: 3 significant digits, ints as ints."""
    if isinstance(value, bool | np.bool_ | str) or value is None:
        return str(value)
    if isinstance(value, int | np.integer) or float(value).is_integer():
        return str(int(value))
    return f"{float(value):.3g}"


def _terms(
    rows: pd.DataFrame,
    names: Sequence[str],
    dists: Mapping[str, BaseDistribution],
    degrees: Mapping[str, int],
) -> list[_Term]:
    terms = []
    for name in names:
        dist, values = dists[name], rows[f"params_{name}"]
        if isinstance(dist, CategoricalDistribution):
            seen = [c for c in dist.choices if any(choice_of(v, dist) == c for v in values)]
            terms.append(_Term(name, dist, levels=tuple(seen[1:]), reference=seen[0]))
            continue
        log = getattr(dist, "log", False)
        t = np.log(values.astype(float)) if log else values.astype(float)
        low, high = float(t.min()), float(t.max())
        terms.append(_Term(name, dist, low, high, degree=degrees[name] if high > low else 0))
    return terms


def _bic(x: np.ndarray, y: np.ndarray) -> float:
    """The Bayesian information criterion of the least-squares fit of ``y`` on ``x``."""
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    rss = max(float(np.sum((y - x @ beta) ** 2)), 1e-12)
    return len(y) * math.log(rss / len(y)) + x.shape[1] * math.log(len(y))


def _degrees(
    rows: pd.DataFrame, names: Sequence[str], dists: Mapping[str, BaseDistribution]
) -> dict[str, int]:
    """1 for every parameter, or 2 where a square term lowers the BIC (one parameter at a
    time, in order), once the study has the trials to rank."""
    degrees = {name: 1 for name in names}
    if len(rows) < MIN_TRIALS_PER_PARAM * max(len(names), 1):
        return degrees
    y = rows["value"].to_numpy(float)
    best = _bic(_design(rows, _terms(rows, names, dists, degrees)), y)
    for name in names:
        if isinstance(dists[name], CategoricalDistribution):
            continue
        trial = {**degrees, name: 2}
        bic = _bic(_design(rows, _terms(rows, names, dists, trial)), y)
        if bic < best:
            degrees, best = trial, bic
    return degrees


def _design(rows: pd.DataFrame, terms: Sequence[_Term]) -> np.ndarray:
    blocks = [np.ones((len(rows), 1))]
    for term in terms:
        values = rows[f"params_{term.name}"]
        blocks.append(np.array([term.features(v) for v in values]).reshape(len(rows), term.width))
    return np.hstack(blocks)


def _fit(x: np.ndarray, y: np.ndarray, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients and ``resamples`` bootstrap refits of them (one per row)."""
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    rng = np.random.default_rng(seed)
    reps = np.empty((resamples, x.shape[1]))
    for r in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        reps[r] = np.linalg.lstsq(x[idx], y[idx], rcond=None)[0]
    return beta, reps


def _interval(estimate: float, replicates: np.ndarray) -> Interval:
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return Interval(float(estimate), float(low), float(high))


def _beyond(replicates: np.ndarray) -> bool:
    """Whether a difference's bootstrap interval lies above zero."""
    return float(np.quantile(replicates, (1 - LEVEL) / 2)) > 0


def _direction(term: _Term, beta: np.ndarray, reps: np.ndarray, observed: pd.Series) -> str:
    if isinstance(term.dist, CategoricalDistribution):
        levels = (None, *term.levels)  # None: the reference level, coefficient 0
        curve0 = np.concatenate([[0.0], beta])
        curves = np.hstack([np.zeros((len(reps), 1)), reps])
        best, worst = int(np.argmax(curve0)), int(np.argmin(curve0))
        if best == worst or not _beyond(curves[:, best] - curves[:, worst]):
            return NO_DIRECTION
        name = [fmt(term.reference if v is None else v) for v in levels]
        return f"{term.name} {name[best]} → best, {name[worst]} → worst"
    if term.degree == 0:
        return NO_DIRECTION
    scaled = [term.scale(v) for v in observed]
    grid = np.linspace(min(scaled), max(scaled), GRID)
    powers = np.stack([grid**d for d in range(1, term.degree + 1)], axis=1)
    curve0, curves = powers @ beta, reps @ powers.T  # (GRID,), (resamples, GRID)
    top, bottom, last = int(np.argmax(curve0)), int(np.argmin(curve0)), GRID - 1
    more = f"more {term.name} →"

    def above(i: int, j: int) -> bool:
        return _beyond(curves[:, i] - curves[:, j])

    if 0 < top < last and above(top, 0) and above(top, last):
        return f"{more} better, up to ~{fmt(term.unscale(grid[top]))}, then worse"
    if 0 < bottom < last and above(0, bottom) and above(last, bottom):
        return f"{more} worse, down to ~{fmt(term.unscale(grid[bottom]))}, then better"
    if above(last, 0):
        return f"{more} better"
    if above(0, last):
        return f"{more} worse"
    return NO_DIRECTION


def effects(
    rows: pd.DataFrame,
    names: Sequence[str],
    dists: Mapping[str, BaseDistribution],
    baseline: Mapping[str, Any],
    best: Mapping[str, Any],
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict[str, Effect]:
    """Each parameter's effect from its ``baseline`` value to its ``best`` value (a value that
    is missing, or a category no trial used, gives None), from the finished ``rows``."""
    terms = _terms(rows, names, dists, _degrees(rows, names, dists))
    x = _design(rows, terms)
    if len(rows) < x.shape[1] + MIN_RESIDUAL_DF:
        return {name: Effect(None, NO_DIRECTION) for name in names}
    beta, reps = _fit(x, rows["value"].to_numpy(float), resamples, seed)
    out, start = {}, 1
    for term in terms:
        block = slice(start, start + term.width)
        start += term.width
        direction = _direction(term, beta[block], reps[:, block], rows[f"params_{term.name}"])
        out[term.name] = Effect(_move(term, baseline, best, beta[block], reps[:, block]), direction)
    return out


def _move(
    term: _Term, baseline: Mapping[str, Any], best: Mapping[str, Any], beta: Any, reps: Any
) -> Interval | None:
    a, b = baseline.get(term.name), best.get(term.name)
    if a is None or b is None or pd.isna(a) or pd.isna(b):
        return None
    try:
        step = term.features(b) - term.features(a)
    except (StopIteration, ValueError, TypeError):  # a value outside the fit (an unseen category)
        return None
    return _interval(float(step @ beta), reps @ step)
