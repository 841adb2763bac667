"""The Fawcett–Hoos ablation path, measured: from the baseline, each step tries every remaining
single change from the current configuration and takes the one that helps most; at the target,
leave-one-out reverts each factor in turn.

The path is adaptive (step t's candidates depend on step t-1's winner), so it is computed from
the runs finished so far: :func:`path_next` says which configurations the current stage still
needs, and :func:`ablation_path` what the finished stages found. A configuration is a tuple of
levels (-1: the baseline's value, +1: the target's), so a factorial's run of the same
configuration and seed counts here too. Every gain's 95 % interval uses the pooled spread of
the seeds of every configuration measured so far (Welch would have S - 1 degrees of freedom).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy.stats import t as student_t

from study.ablate.design import Factor
from study.ablate.fit import LEVEL, Observation

__all__ = ["AblationPath", "Gain", "PathStep", "ablation_path", "path_next", "pooled_sd"]

Config = tuple[int, ...]


@dataclass(frozen=True)
class Gain:
    """What one change buys: mean(after) - mean(before), with its 95 % interval."""

    factor: int
    label: str
    estimate: float
    low: float | None
    high: float | None

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


@dataclass(frozen=True)
class PathStep:
    taken: Gain  # the change taken
    candidates: tuple[Gain, ...]  # every change measured at this step, best first
    start: Config


@dataclass(frozen=True)
class AblationPath:
    steps: tuple[PathStep, ...]
    leave_one_out: tuple[Gain, ...]  # mean(target) - mean(target with i reverted), best first
    complete: bool
    baseline: float | None
    target: float | None
    residual_df: int
    sigma: float | None


def _by_config(
    observations: Sequence[Observation], seeds: Sequence[int]
) -> dict[Config, list[float]]:
    wanted = set(seeds)
    found: dict[Config, dict[int, float]] = {}
    for o in observations:
        if o.seed in wanted:
            found.setdefault(tuple(o.levels), {})[o.seed] = o.value
    return {c: list(v.values()) for c, v in found.items()}


def _measured(values: Mapping[Config, list[float]], config: Config, seeds: Sequence[int]) -> bool:
    return len(values.get(config, ())) >= len(set(seeds))


def _flip(config: Config, i: int, to: int) -> Config:
    return tuple(to if j == i else x for j, x in enumerate(config))


def _walk(k: int, values: Mapping[Config, list[float]], seeds: Sequence[int]):
    """The path as far as it is measured: (steps as (start, taken factor, candidates), the
    configuration reached, and the configurations the next stage needs)."""
    current: Config = (-1,) * k
    steps = []
    while any(x < 0 for x in current):
        remaining = [i for i in range(k) if current[i] < 0]
        stage = [current, *(_flip(current, i, 1) for i in remaining)]
        missing = [c for c in stage if not _measured(values, c, seeds)]
        if missing:
            return steps, current, missing
        means = {i: statistics.fmean(values[_flip(current, i, 1)]) for i in remaining}
        best = max(remaining, key=lambda i: (means[i], -i))  # ties: the lowest index
        steps.append((current, best, remaining))
        current = _flip(current, best, 1)
    loo = [_flip(current, i, -1) for i in range(k)]
    return steps, current, [c for c in loo if not _measured(values, c, seeds)]


def path_next(
    k: int, observations: Sequence[Observation], seeds: Sequence[int]
) -> tuple[Config, ...]:
    """The configurations the current stage still needs (each with every seed); () when the
    path and the leave-one-out are complete."""
    _, _, missing = _walk(k, _by_config(observations, seeds), seeds)
    return tuple(sorted(set(missing)))


def pooled_sd(values: Mapping[Config, list[float]]) -> tuple[float | None, int]:
    """The pooled within-configuration SD of val top-1 and its degrees of freedom."""
    groups = [v for v in values.values() if len(v) > 1]
    df = sum(len(v) - 1 for v in groups)
    if df == 0:
        return None, 0
    ss = sum(sum((x - statistics.fmean(v)) ** 2 for x in v) for v in groups)
    return math.sqrt(ss / df), df


def _gain(
    factor: Factor, i: int, after: list[float], before: list[float], sigma: float | None, df: int
) -> Gain:
    estimate = statistics.fmean(after) - statistics.fmean(before)
    if sigma is None:
        return Gain(i, factor.name, estimate, None, None)
    half = student_t.ppf(0.5 + LEVEL / 2, df) * sigma * math.sqrt(1 / len(after) + 1 / len(before))
    return Gain(i, factor.name, estimate, estimate - float(half), estimate + float(half))


def ablation_path(
    factors: Sequence[Factor], observations: Sequence[Observation], seeds: Sequence[int]
) -> AblationPath:
    """The finished steps of the path, and the leave-one-out once the path is complete."""
    k = len(factors)
    values = _by_config(observations, seeds)
    sigma, df = pooled_sd(values)
    walked, current, missing = _walk(k, values, seeds)
    steps = []
    for start, taken, remaining in walked:
        gains = [
            _gain(factors[i], i, values[_flip(start, i, 1)], values[start], sigma, df)
            for i in remaining
        ]
        gains.sort(key=lambda g: (-g.estimate, g.factor))
        chosen = next(g for g in gains if g.factor == taken)
        steps.append(PathStep(chosen, tuple(gains), start))
    at_target = all(x > 0 for x in current)
    loo: list[Gain] = []
    if at_target and not missing:
        loo = [
            _gain(factors[i], i, values[current], values[_flip(current, i, -1)], sigma, df)
            for i in range(k)
        ]
        loo.sort(key=lambda g: (-g.estimate, g.factor))
    base, target = values.get((-1,) * k), values.get((1,) * k)
    return AblationPath(
        steps=tuple(steps),
        leave_one_out=tuple(loo),
        complete=at_target and not missing,
        baseline=statistics.fmean(base) if base else None,
        target=statistics.fmean(target) if target else None,
        residual_df=df,
        sigma=sigma,
    )
