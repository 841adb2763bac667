"""A two-level design's analysis: least squares on the ±1-coded factors, main effects and the
two-factor interactions the design estimates, with 95 % t-intervals from the residuals.

With every design point run S times the residuals are the replicates' spread about their
point's mean plus the higher-order terms the model leaves out, so the intervals are honest (if
anything wide). An effect is the change from the baseline's level to the target's, averaged over
the other factors: twice the coefficient of its ±1 column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from study.ablate.design import Design

__all__ = ["Effect", "FactorialFit", "Observation", "expected_half_width", "fit_factorial"]

LEVEL = 0.95


@dataclass(frozen=True)
class Observation:
    """One finished run: its configuration (levels in factor order), seed and val top-1."""

    levels: tuple[int, ...]
    seed: int
    value: float


@dataclass(frozen=True)
class Effect:
    """A term's change of val top-1 from the baseline's level(s) to the target's."""

    term: tuple[int, ...]
    label: str
    estimate: float
    low: float | None  # None: no residual degrees of freedom
    high: float | None
    aliases: tuple[str, ...] = ()

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


@dataclass(frozen=True)
class FactorialFit:
    mains: tuple[Effect, ...]  # ranked by |estimate|, largest first
    interactions: tuple[Effect, ...]  # ranked the same way
    runs: int
    points: int  # distinct design points observed
    residual_df: int
    sigma: float | None  # the residual SD (None: no degrees of freedom)
    half_width: float | None  # the largest 95 % half-width of a main effect (the MDE)
    complete: bool  # every design point observed


def _columns(design: Design, terms: Sequence[tuple[int, ...]], levels: np.ndarray) -> np.ndarray:
    cols = [np.ones(len(levels))]
    cols += [np.prod(levels[:, list(term)], axis=1) for term in terms]
    return np.column_stack(cols)


def fit_factorial(design: Design, observations: Sequence[Observation]) -> FactorialFit:
    """Least squares of val top-1 on the design's main effects and estimable interactions.

    A partial design (runs still missing) is fitted on its main effects alone when they are
    estimable (a full-rank main-effects matrix); with fewer runs, ValueError.
    """
    rows = set(design.rows)
    strangers = [o.levels for o in observations if o.levels not in rows]
    if strangers:
        raise ValueError(f"observations at levels that are no design point: {strangers[:3]}")
    k = len(design.factors)
    mains = [(i,) for i in range(k)]
    seen = {o.levels for o in observations}
    complete = seen == rows
    terms: list[tuple[int, ...]] = [*mains, *(design.interactions() if complete else ())]
    levels = np.array([o.levels for o in observations], dtype=float).reshape(-1, k)
    y = np.array([o.value for o in observations], dtype=float)
    x = _columns(design, terms, levels)
    if len(y) == 0 or np.linalg.matrix_rank(x) < x.shape[1]:
        raise ValueError(
            f"{len(seen)} of {len(rows)} design points run: too few to estimate the main effects"
        )
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    df = len(y) - x.shape[1]
    sigma = se = None
    if df > 0:
        sigma = math.sqrt(float(np.sum((y - x @ beta) ** 2)) / df)
        se = sigma * np.sqrt(np.diag(np.linalg.inv(x.T @ x)))
    quantile = float(student_t.ppf(0.5 + LEVEL / 2, df)) if df > 0 else math.nan
    effects = []
    for j, term in enumerate(terms, start=1):
        estimate = 2 * float(beta[j])
        half = None if se is None else 2 * quantile * float(se[j])
        aliases = tuple(design.label(a) for a in design.aliases(term))
        low, high = (None, None) if half is None else (estimate - half, estimate + half)
        effects.append(Effect(term, design.label(term), estimate, low, high, aliases))
    ranked = sorted(effects, key=lambda e: -abs(e.estimate))
    main_effects = tuple(e for e in ranked if len(e.term) == 1)
    widths = [
        (e.high - e.low) / 2 for e in main_effects if e.low is not None and e.high is not None
    ]
    return FactorialFit(
        mains=main_effects,
        interactions=tuple(e for e in ranked if len(e.term) == 2),
        runs=len(y),
        points=len(seen),
        residual_df=df,
        sigma=sigma,
        half_width=max(widths) if widths else None,
        complete=complete,
    )


def expected_half_width(design: Design, seeds: int, sigma: float) -> float | None:
    """The 95 % half-width of one effect when every point runs ``seeds`` times with run-to-run
    SD ``sigma``: t(df) * 2 * sigma / sqrt(n), balanced ±1 columns (None: no df)."""
    n = len(design.rows) * seeds
    df = n - 1 - len(design.factors) - len(design.interactions())
    if df <= 0:
        return None
    return float(student_t.ppf(0.5 + LEVEL / 2, df)) * 2 * sigma / math.sqrt(n)
