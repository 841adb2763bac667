"""An ablation's results in words: each effect as "moving X from the baseline's value to the
target's changes val top-1 by x ± h points", for the terminal and the report alike."""

from __future__ import annotations

from collections.abc import Mapping

from study.ablate.fit import Effect, FactorialFit, fit_factorial
from study.ablate.path import AblationPath, Gain, ablation_path
from study.ablate.plan import AblationPlan, observations

__all__ = ["fit_plan", "interval_text", "summary_lines"]


def fit_plan(plan: AblationPlan, values: Mapping[str, float]) -> FactorialFit | AblationPath | None:
    """The plan's analysis on the runs done so far; None before a factorial can be fitted."""
    found = observations(plan, values)
    if plan.design == "path":
        return ablation_path(plan.factors, found, plan.seeds)
    design = plan.factorial
    rows = set(design.rows)
    try:
        return fit_factorial(design, [o for o in found if o.levels in rows])
    except ValueError:  # too few runs yet to estimate the main effects
        return None


def interval_text(estimate: float, low: float | None, high: float | None) -> str:
    """``+3.1 points (95 % CI +1.0 to +5.2)``; no interval: says why."""
    head = f"{100 * estimate:+.1f} points"
    if low is None or high is None:
        return f"{head} (no interval: no replicate runs; use --seeds 2 or more)"
    verdict = "" if low > 0 or high < 0 else "; not distinguishable from noise"
    return f"{head} (95 % CI {100 * low:+.1f} to {100 * high:+.1f}{verdict})"


def _effect_line(plan: AblationPlan, e: Effect | Gain, what: str) -> str:
    lead = f"{what} " if what else ""
    return f"  {e.label}: {lead}{interval_text(e.estimate, e.low, e.high)}"


def summary_lines(plan: AblationPlan, values: Mapping[str, float]) -> list[str]:
    """What ``ablate`` prints when its runs are done."""
    result = fit_plan(plan, values)
    if result is None:
        return ["measured effects: too few runs yet to fit the design"]
    if isinstance(result, AblationPath):
        lines = [f"the path from the baseline to {plan.target_label}, step by step:"]
        lines += [_effect_line(plan, s.taken, "taken next, buys") for s in result.steps]
        if result.leave_one_out:
            lines.append("leave-one-out from the target (what reverting each factor costs):")
            lines += [_effect_line(plan, g, "") for g in result.leave_one_out]
        return lines
    lines = [
        f"measured effects, from the baseline's value to {plan.target_label}'s ({result.runs} "
        f"runs, {result.points} design points; 95 % t-intervals, {result.residual_df} df):"
    ]
    lines += [_effect_line(plan, e, "changes val top-1 by") for e in result.mains]
    flagged = [e for e in result.interactions if e.excludes_zero]
    if flagged:
        lines.append("interactions whose interval excludes zero:")
        lines += [_effect_line(plan, e, "") for e in flagged]
    return lines
