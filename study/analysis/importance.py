"""Section 2's importances: PED-ANOVA and fANOVA, each with a bootstrap interval over trials.

Each evaluator runs on a temporary in-memory Optuna study built from exactly the trials of one
bootstrap replicate (finished trials drawn with replacement), so its interval says how much the
importance moves when the study had gone slightly differently. The study is created with
``direction="maximize"`` and no ``target``: PED-ANOVA then keeps the *highest* values as its top
quantile (``_QuantileFilter`` with ``is_lower_better=False``). Passing ``target=`` would make it
assume lower is better and rank what it takes to be *worst*; we never pass one.

Large studies are subsampled: a replicate draws at most :data:`MAX_TRIALS_PER_RESAMPLE` trials
(an m-out-of-n bootstrap, whose intervals are those of a study of that size: wider, never
narrower, than the full study's), so the section stays within seconds at 10,000 trials.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator
from optuna.trial import FrozenTrial

from study.analysis.findings import Interval

PED_ANOVA = "PED-ANOVA"
FANOVA = "fANOVA"
EVALUATORS = (PED_ANOVA, FANOVA)
MAX_TRIALS_PER_RESAMPLE = 500  # keeps one fANOVA fit ~0.1 s
# fANOVA's forest, far smaller than Optuna's default (64 trees, depth 64): ~80x faster, and its
# importances agree with the default's to a few hundredths on the planted studies; the
# bootstrap interval is far wider than that.
FANOVA_TREES = 8
FANOVA_DEPTH = 6
LEVEL = 0.95


@dataclass(frozen=True)
class Plan:
    """How the importance intervals are computed: ``resamples`` replicates of ``size`` trials,
    drawn with replacement from ``trials`` finished trials."""

    trials: int
    resamples: int
    size: int

    def describe(self) -> str:
        what = f"{self.resamples} bootstrap resamples of the {self.trials:,} finished trials"
        if self.size < self.trials:
            what = (
                f"{self.resamples} bootstrap resamples of {self.size:,} trials each, drawn from "
                f"the {self.trials:,} finished trials (subsampled for speed, so the intervals "
                f"are those of a {self.size:,}-trial study: wider than the full study's)"
            )
        return f"Importance intervals: {what}; each evaluator ran on each resample."


def plan(trials: int, resamples: int | None = None) -> Plan:
    """The bootstrap plan for ``trials`` finished trials (``resamples=None``: a default by size,
    fewer replicates for bigger studies so the section takes a few seconds)."""
    if resamples is None:
        resamples = 40 if trials <= 200 else 20
    if resamples < 0:
        raise ValueError(f"resamples must be >= 0, got {resamples!r}")
    return Plan(trials=trials, resamples=resamples, size=min(trials, MAX_TRIALS_PER_RESAMPLE))


def distributions(
    rows: pd.DataFrame, names: Sequence[str], space_params: Mapping[str, Any]
) -> dict[str, BaseDistribution]:
    """One Optuna distribution per parameter: the space's, widened to every observed value
    (a baseline off the grid stays valid), or inferred from the frame's values."""
    out: dict[str, BaseDistribution] = {}
    for name in names:
        values = rows[f"params_{name}"]
        spec = space_params.get(name, {}) or {}
        kind = spec.get("type") or ("float" if is_numeric(values) else "categorical")
        if kind == "categorical" or not is_numeric(values):
            choices = list(spec.get("choices") or [])
            for value in values:
                if not any(_same(value, c) for c in choices):
                    choices.append(value)
            out[name] = CategoricalDistribution(choices)
            continue
        # Ints too as floats: both evaluators treat them as numbers, and a float distribution
        # needs no step grid for the observed values to sit on.
        x = values.astype(float)
        low = min(float(x.min()), float(spec.get("low", math.inf)))
        high = max(float(x.max()), float(spec.get("high", -math.inf)))
        log = bool(spec.get("log", False)) and low > 0
        out[name] = FloatDistribution(low, high, log=log)
    return out


def is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _same(a: Any, b: Any) -> bool:
    """Equal as parameter values: 2.0 is 2, but True is not 1."""
    flags = isinstance(a, bool | np.bool_), isinstance(b, bool | np.bool_)
    if any(flags):
        return all(flags) and bool(a) == bool(b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def choice_of(value: Any, dist: CategoricalDistribution) -> Any:
    """The choice of ``dist`` equal to ``value`` (a frame's 2.0 is the choice 2)."""
    return next(c for c in dist.choices if _same(value, c))


def frozen_trials(
    rows: pd.DataFrame, names: Sequence[str], dists: Mapping[str, BaseDistribution]
) -> list[FrozenTrial]:
    """The finished trials as Optuna trials over ``names`` (value: val top-1)."""
    out = []
    for _, row in rows.iterrows():
        params = {}
        for name in names:
            value, dist = row[f"params_{name}"], dists[name]
            if isinstance(dist, CategoricalDistribution):
                params[name] = choice_of(value, dist)
            else:
                params[name] = float(value)
        used = {n: dists[n] for n in names}
        out.append(
            optuna.trial.create_trial(params=params, distributions=used, value=float(row["value"]))
        )
    return out


def _study(trials: Sequence[FrozenTrial]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")  # see the module docstring
    study.add_trials(trials)
    return study


def _evaluate(evaluator: Any, study: optuna.Study, names: list[str]) -> np.ndarray:
    """Importances normalized to sum to 1 (all 0 when nothing varies), in ``names`` order."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PED-ANOVA warns on small regimes; we show intervals
            found = evaluator.evaluate(study, params=names)
    except (ValueError, ZeroDivisionError, RuntimeError):
        return np.zeros(len(names))  # e.g. every resampled value the same
    raw = np.array([float(found.get(n, 0.0)) for n in names])
    raw = np.where(np.isfinite(raw) & (raw > 0), raw, 0.0)
    total = raw.sum()
    return raw / total if total > 0 else raw


def _make(label: str, seed: int) -> Any:
    if label == PED_ANOVA:
        return PedAnovaImportanceEvaluator()
    return FanovaImportanceEvaluator(n_trees=FANOVA_TREES, max_depth=FANOVA_DEPTH, seed=seed)


def _interval(estimate: float, replicates: np.ndarray) -> Interval:
    if replicates.size == 0:
        return Interval(estimate, estimate, estimate)
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return Interval(float(estimate), float(low), float(high))


def importances(
    trials: Sequence[FrozenTrial],
    names: Sequence[str],
    the_plan: Plan,
    *,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Interval]]:
    """Each evaluator's importance of each of ``names`` with its bootstrap interval."""
    names = list(names)
    rng = np.random.default_rng(seed)
    n = len(trials)
    point = list(trials)
    if the_plan.size < n:  # the estimate on a fixed subsample, as the replicates are
        point = [trials[i] for i in rng.choice(n, the_plan.size, replace=False)]
    draws = [rng.integers(0, n, the_plan.size) for _ in range(the_plan.resamples)]
    if progress:
        progress(
            f"what mattered: importance by {' and '.join(EVALUATORS)}, "
            f"{the_plan.resamples} resamples of {the_plan.size:,} trials"
        )
    study, estimates = _study(point), {}
    for label in EVALUATORS:
        try:
            estimates[label] = _evaluate(_make(label, seed), study, names)
        except ImportError:  # fANOVA without scikit-learn: the page names one evaluator
            continue
    reps: dict[str, list[np.ndarray]] = {label: [] for label in estimates}
    for i, draw in enumerate(draws):  # one study per replicate, shared by the evaluators
        study = _study([trials[j] for j in draw])
        for label in estimates:
            reps[label].append(_evaluate(_make(label, seed + i + 1), study, names))
    out: dict[str, dict[str, Interval]] = {}
    for label, estimate in estimates.items():
        found = np.array(reps[label]).reshape(len(draws), len(names))
        out[label] = {name: _interval(estimate[k], found[:, k]) for k, name in enumerate(names)}
    return out
