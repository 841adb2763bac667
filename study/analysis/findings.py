"""What section 2 ("what mattered") finds per parameter, as the answer section reads it.

:func:`study.analysis.mattered.get_mattered_info` makes a :class:`MatteredInfo`; the answer
section (:mod:`study.analysis.answer`) turns its findings into one sentence each. Numbers are
fractions of val top-1 (0.01 = one point) unless named otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95 % interval."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Finding:
    """One parameter: its importance by each evaluator, its effect, and the page's verdict."""

    name: str
    role: str  # scientific | nuisance
    importance: tuple[tuple[str, Interval], ...]  # (evaluator name, importance in [0, 1])
    effect: Interval | None  # val top-1 from the baseline's value to the best trial's
    baseline_value: Any
    best_value: Any
    direction: str  # e.g. "more weight decay → better, up to ~0.1, then worse"
    verdict: str  # one line, e.g. "not distinguishable from noise in this study"
    sentence: str  # the answer's one sentence about it

    @property
    def distinguishable(self) -> bool:
        return self.effect is not None and self.effect.excludes_zero


@dataclass(frozen=True)
class MatteredInfo:
    """Section 2: the scientific parameters ranked, the nuisance ones apart, the fixed listed."""

    effect_method: str  # how effects are estimated, named on the page
    evaluators: tuple[str, ...]  # the importance evaluators, named on the page
    trials: int  # finished trials the estimates use
    findings: tuple[Finding, ...]  # scientific parameters, most important first
    nuisance: tuple[Finding, ...] = ()
    fixed: tuple[str, ...] = ()
    disagreement: str | None = None  # where the evaluators rank differently, in one line
    note: str | None = None  # e.g. why nothing could be estimated (too few trials)
    resampling: str = ""  # how the intervals were computed (resamples, subsampling), for the page


# The one threshold for "can this study rank its parameters": a surrogate fitted on fewer than
# about ten trials per searched parameter mostly fits noise (the usual rule of thumb for
# regression and random forests; fANOVA and PED-ANOVA are no better). Below it the page shows
# no ranking, only what would settle it. Section 2 orders findings by it; the answer words it.
MIN_TRIALS_PER_PARAM = 10


def trials_to_rank(params: int) -> int:
    """The finished trials (baseline included) a study of ``params`` searched parameters needs
    before the page ranks them."""
    if params < 0:
        raise ValueError(f"params must be >= 0, got {params!r}")
    return MIN_TRIALS_PER_PARAM * max(params, 1)


def can_rank(trials: int, params: int) -> bool:
    """Whether ``trials`` finished trials are enough to rank ``params`` parameters."""
    return trials >= trials_to_rank(params)
