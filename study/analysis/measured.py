"""The "Measured effects" section: what each fix buys, measured by ``python -m study ablate``'s
designed reruns (the linked study ``<study>:ablate``), beside section 2's estimates from the
search's own trials. Without a linked study it says how to get the measurement.

A factor's measured effect is what moving it from the baseline's value to the target's changes
val top-1 by, averaged over the other factors' levels (a factorial) or at the target (the path's
leave-one-out). The search's estimate for the same move comes from section 2's least-squares
surrogate; the two disagree when their 95 % intervals do not overlap.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from study import records
from study.ablate.design import factorial_design, factors_between
from study.ablate.fit import FactorialFit
from study.ablate.path import AblationPath
from study.ablate.plan import DEFAULT_SEEDS, AblationPlan, observations
from study.ablate.summary import fit_plan
from study.analysis import effects as eff
from study.analysis import importance as imp
from study.analysis.effects import fmt
from study.analysis.inputs import ReportInputs, baseline_row, best_row, finished
from study.analysis.markup import points as _points

__all__ = [
    "DesignResult",
    "MeasuredInfo",
    "Term",
    "get_measured_info",
    "measured_sentence",
    "measured_verdict",
]

NOISE = "not distinguishable from noise"
BEYOND = "beyond noise"


@dataclass(frozen=True)
class Term:
    """One measured quantity: an effect, an interaction, a path step or a leave-one-out."""

    label: str
    estimate: float
    low: float | None  # None: no replicate runs, so no interval
    high: float | None
    aliases: tuple[str, ...] = ()
    baseline_value: Any = None  # a factor's two values
    target_value: Any = None
    surrogate: tuple[float, float, float] | None = None  # the search's (estimate, low, high)
    agreement: str = ""

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


@dataclass(frozen=True)
class DesignResult:
    name: str
    design: str  # factorial | path
    target_label: str
    description: str  # "full 2^4 factorial, 16 points", "2^(6-2) fractional factorial, ..."
    seeds: int
    epochs: int
    done: int  # the design's runs finished
    total: int
    effects: tuple[Term, ...]  # ranked by |estimate|: factorial mains, or the leave-one-out
    interactions: tuple[Term, ...] = ()
    steps: tuple[Term, ...] = ()  # the path's changes, in the order taken
    half_width: float | None = None  # the factorial's minimum detectable effect
    residual_df: int = 0
    note: str | None = None  # a partial design, or why nothing is fitted yet

    @property
    def short(self) -> str:
        """The description's first clause: "2^(6-2) fractional factorial, 16 points"."""
        return ", ".join(self.description.split(", ")[:2])

    @property
    def complete(self) -> bool:
        return self.done >= self.total and self.note is None

    @property
    def disagreements(self) -> tuple[str, ...]:
        return tuple(t.label for t in self.effects if t.agreement.startswith("disagree"))


@dataclass(frozen=True)
class MeasuredInfo:
    designs: tuple[DesignResult, ...]
    suggestion: str | None = None  # without measurements: the command, its runs and time


def get_measured_info(inputs: ReportInputs) -> MeasuredInfo:
    """Each recorded design fitted on its finished runs, or how to measure them."""
    ablation = inputs.ablation
    if ablation is None or not ablation.designs:
        return MeasuredInfo((), _suggestion(inputs))
    results = []
    for record in ablation.designs:
        plan = AblationPlan.from_record(inputs.study_name, record)
        results.append(_result(inputs, plan, ablation.values))
    return MeasuredInfo(tuple(results))


def _result(inputs: ReportInputs, plan: AblationPlan, values: Mapping[str, float]) -> DesignResult:
    fit = fit_plan(plan, values)
    total = plan.total_runs()
    done = min(total, _done(plan, values))
    head: dict[str, Any] = dict(
        name=plan.name,
        design=plan.design,
        target_label=plan.target_label,
        description=_description(plan),
        seeds=len(plan.seeds),
        epochs=plan.epochs,
        done=done,
        total=total,
    )
    partial = None if done >= total else f"{done} of {total} runs done: a partial result"
    if fit is None:
        return DesignResult(**head, effects=(), note=partial or "too few runs to fit")
    surrogate = _surrogate(inputs, plan)
    values_of = {f.name: (f.low, f.high) for f in plan.factors}
    if isinstance(fit, FactorialFit):
        mains = tuple(_term(e, values_of, surrogate) for e in fit.mains)
        inter = tuple(_term(e, {}, {}) for e in fit.interactions)
        return DesignResult(
            **head,
            effects=mains,
            interactions=inter,
            half_width=fit.half_width,
            residual_df=fit.residual_df,
            note=partial,
        )
    assert isinstance(fit, AblationPath)
    loo = tuple(_term(g, values_of, surrogate) for g in fit.leave_one_out)
    steps = tuple(_term(s.taken, values_of, {}) for s in fit.steps)
    return DesignResult(**head, effects=loo, steps=steps, residual_df=fit.residual_df, note=partial)


def _done(plan: AblationPlan, values: Mapping[str, float]) -> int:
    return len(observations(plan, values))


def _term(e: Any, values_of: Mapping[str, tuple[Any, Any]], surrogate: Mapping) -> Term:
    low_high = values_of.get(e.label, (None, None))
    s = surrogate.get(e.label)
    term = Term(
        label=e.label,
        estimate=e.estimate,
        low=e.low,
        high=e.high,
        aliases=tuple(getattr(e, "aliases", ())),
        baseline_value=low_high[0],
        target_value=low_high[1],
        surrogate=s,
    )
    return dataclasses.replace(term, agreement=_agreement(term) if values_of else "")


def _agreement(t: Term) -> str:
    if t.surrogate is None:
        return "no estimate from the search (too few finished trials for its fit)"
    _, s_low, s_high = t.surrogate
    if t.low is None or t.high is None:
        return "no measured interval to compare"
    if s_high < t.low or s_low > t.high:
        return "disagree: the intervals do not overlap"
    return "consistent: the intervals overlap"


def _surrogate(inputs: ReportInputs, plan: AblationPlan) -> dict[str, tuple[float, float, float]]:
    """Section 2's least-squares estimate of each factor's move to the plan's target."""
    names = [p for p in plan.baseline if f"params_{p}" in inputs.frame.columns]
    rows = finished(inputs.frame)
    rows = rows[rows[[f"params_{n}" for n in names]].notna().all(axis=1)] if names else rows
    if len(rows) < 3 or not names:
        return {}
    space_params = dict((inputs.study.space or {}).get("params") or {})
    dists = imp.distributions(rows, names, space_params)
    found = eff.effects(rows, names, dists, plan.baseline, plan.target, seed=0)
    return {
        f.name: (e.effect.estimate, e.effect.low, e.effect.high)
        for f in plan.factors
        if (e := found.get(f.name)) is not None and e.effect is not None
    }


def _description(plan: AblationPlan) -> str:
    k = len(plan.factors)
    if plan.design == "path":
        return f"the greedy path over {k} factors, then leave-one-out from the target"
    design = plan.factorial
    if design.kind == "full":
        return f"full 2^{k} factorial, {len(design.rows)} points"
    return (
        f"2^({k}-{len(design.generators)}) fractional factorial, {len(design.rows)} points, "
        f"resolution {design.resolution_name} (generators {', '.join(design.generators)}): no main "
        "effect is aliased with another or with a two-factor interaction"
    )


def _suggestion(inputs: ReportInputs) -> str | None:
    """The ablation the study would get by default: its command, runs and time."""
    frame = inputs.frame
    base, best = baseline_row(frame), best_row(frame)
    if base is None or best is None:
        return None
    names = [n for n in inputs.study.baseline_params if f"params_{n}" in frame.columns]
    baseline = dict(inputs.study.baseline_params)
    target = {**baseline, **{n: _plain(best[f"params_{n}"]) for n in names}}
    roles = dict(inputs.study.roles)
    command = f"python -m study ablate --study {inputs.study_name}"
    factors = factors_between(baseline, target, roles)
    points = dict((inputs.study.space or {}).get("points") or {})
    if not factors and points:
        name, point = next(iter(points.items()))
        command += f" --to {name}"
        factors = factors_between(baseline, {**baseline, **point}, roles)
    if not factors:
        return None
    runs = len(factorial_design(factors).rows) * DEFAULT_SEEDS
    epochs = int(dict((inputs.study.space or {}).get("fixed") or {}).get("epochs") or 0)
    rate = _seconds_per_epoch(frame)
    time = (
        "" if rate is None or not epochs else f", at most about {runs * epochs * rate / 60:.0f} min"
    )
    return f"`{command}` would measure them: {runs} runs of {epochs or '?'} epochs{time}"


def _plain(value: Any) -> Any:
    return getattr(value, "item", lambda: value)()


def _seconds_per_epoch(frame: Any) -> float | None:
    seconds, epochs = frame.get(records.SECONDS), frame.get(records.EPOCHS_RUN)
    if seconds is None or epochs is None:
        return None
    rates = [s / e for s, e in zip(seconds, epochs, strict=True) if s == s and e == e and e]
    return statistics.median(rates) if rates else None


def measured_sentence(t: Term) -> str:
    """One measured fix, as the answer lists it."""
    move = f"from {fmt(t.baseline_value)} to {fmt(t.target_value)}"
    if t.low is None or t.high is None:
        return f"{t.label} ({move}): {_points(t.estimate)}, measured without an interval"
    word = BEYOND if t.excludes_zero else NOISE
    return (
        f"{t.label} ({move}): {_points(t.estimate)} (95 % interval {_points(t.low)} to "
        f"{_points(t.high)}), measured: {word}"
    )


def measured_verdict(d: DesignResult) -> tuple[str, str]:
    """The verdict of a complete designed ablation."""
    k = sum(t.excludes_zero for t in d.effects)
    width = (
        "" if d.half_width is None else f"; it detects effects of ±{100 * d.half_width:.1f} points"
    )
    text = (
        f"measured by {d.done} designed reruns ({d.short}, {d.seeds} seeds each): "
        f"{k} of {len(d.effects)} fixes have effects beyond noise{width}"
    )
    return ("measured" if k else "measured_none"), text
