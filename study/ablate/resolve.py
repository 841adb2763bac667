"""An ablation's plan resolved against a study (``--to``, ``--design``, ``--seeds``, ``--epochs``),
and what the plan prints: the design as a table, the runs, the time and the interval to expect."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from study import records
from study.ablate.design import factors_between
from study.ablate.fit import expected_half_width
from study.ablate.path import pooled_sd
from study.ablate.plan import AblationPlan, observations
from study.analysis.inputs import noise_floor
from study.space.spec import SearchSpace
from vitlab.errors import UserError

__all__ = ["Estimate", "estimate", "format_plan", "resolve_plan", "space_points", "target_point"]


def target_point(study: optuna.Study, space: SearchSpace, to: str) -> tuple[dict[str, Any], str]:
    """The target's parameters and how to name it: ``best`` (the best finished trial) or a
    point of the space (the recorded space's, else the space file's as it is now)."""
    if to == "best":
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            raise UserError(
                f"study {study.study_name!r} has no finished trial yet: --to best needs one "
                "(or name a point of the space with --to)"
            )
        best = study.best_trial
        return dict(best.params), f"the best trial ({best.number})"
    points = space_points(space)
    if to not in points:
        known = ", ".join(["best", *points]) or "best"
        raise UserError(f"--to {to}: not a point of the space {space.source} (known: {known})")
    return dict(points[to]), f"point {to}"


def space_points(space: SearchSpace) -> dict[str, Mapping[str, Any]]:
    """The space's named points: as recorded, else (a study recorded before spaces had
    points) the space file's, if it still has the study's parameters."""
    return dict(space.points) or dict(_file_points(space))


def _file_points(space: SearchSpace) -> Mapping[str, Mapping[str, Any]]:
    """The points of the space file, for a study recorded before spaces had points; only if
    the file still has the study's parameters."""
    from study.space.load import load_space

    if not Path(space.source).is_file():
        return {}
    try:
        current = load_space(space.source)
    except UserError:
        return {}
    same = [p.name for p in current.params] == [p.name for p in space.params]
    return current.points if same else {}


def resolve_plan(
    study: optuna.Study,
    space: SearchSpace,
    *,
    to: str,
    design: str,
    seeds: int,
    epochs: int | None,
    default_epochs: int,
    train_seed: int,
) -> AblationPlan:
    """The plan: the record's baseline, the target, the factors between them."""
    if seeds < 1:
        raise UserError(f"--seeds {seeds}: expected at least 1")
    if epochs is not None and epochs < 1:
        raise UserError(f"--epochs {epochs}: expected at least 1")
    record = records.StudyRecord.from_study(study)
    baseline = dict(record.baseline_params or space.baseline)
    target, label = target_point(study, space, to)
    target = {**baseline, **target}
    roles = dict(record.roles or space.roles())
    return AblationPlan(
        study=study.study_name,
        target_name=to,
        target_label=label,
        baseline=baseline,
        target=target,
        factors=factors_between(baseline, target, roles),
        design=design,
        seeds=tuple(range(train_seed, train_seed + seeds)),
        epochs=epochs or default_epochs,
    )


@dataclass(frozen=True)
class Estimate:
    """What the plan costs and buys, before it runs."""

    runs: int
    done: int  # runs already finished (a resumed ablation)
    seconds_per_epoch: float | None  # the study's median; None: no finished trial
    seconds: float | None  # at most: every run to its last epoch
    sigma: float | None  # run-to-run SD of val top-1 assumed
    sigma_source: str  # where sigma comes from
    half_width: float | None  # the factorial's expected 95 % half-width of one effect


def estimate(
    plan: AblationPlan, study: optuna.Study, values: Mapping[str, float], val_images: int
) -> Estimate:
    """Time from the study's own seconds per epoch; the interval from the noise seen so far:
    the replicate spread of the ablation's runs when two seeds of a configuration are done,
    else the val split's noise floor at the baseline's top-1 (seed noise comes on top)."""
    runs, done = plan.total_runs(), _done(plan, values)
    per_epoch = seconds_per_epoch(study)
    seconds = None if per_epoch is None else (runs - done) * plan.epochs * per_epoch
    sigma, source = _replicate_sigma(plan, values)
    if sigma is None:
        base = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        top1 = statistics.median(v for v in base if v is not None) if base else 0.5
        sigma, source = noise_floor(top1, val_images), f"the noise floor of {val_images} val images"
        sigma = None if math.isnan(sigma) else sigma
    width = None
    if plan.design == "factorial" and sigma is not None:
        width = expected_half_width(plan.factorial, len(plan.seeds), sigma)
    return Estimate(runs, done, per_epoch, seconds, sigma, source, width)


def _done(plan: AblationPlan, values: Mapping[str, float]) -> int:
    return len(observations(plan, values))


def seconds_per_epoch(study: optuna.Study) -> float | None:
    rates = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        rec = records.TrialRecord.from_trial(t)
        if rec.seconds and rec.epochs_run:
            rates.append(rec.seconds / rec.epochs_run)
    return statistics.median(rates) if rates else None


def _replicate_sigma(plan: AblationPlan, values: Mapping[str, float]) -> tuple[float | None, str]:
    """The pooled within-configuration SD of the finished runs, if any configuration has 2."""
    by_config: dict[tuple[int, ...], list[float]] = {}
    for o in observations(plan, values):
        by_config.setdefault(o.levels, []).append(o.value)
    sigma, _ = pooled_sd(by_config)
    if sigma is None:
        return None, ""
    groups = sum(len(v) > 1 for v in by_config.values())
    return sigma, f"the spread between seeds of {groups} configurations"


def format_plan(plan: AblationPlan, est: Estimate) -> str:
    """The plan as ``ablate --plan`` prints it."""
    lines = [
        f"ablation of study {plan.study!r}: {plan.design} from the baseline to "
        f"{plan.target_label}, {len(plan.factors)} factors, seeds {list(plan.seeds)}, "
        f"{plan.epochs} epochs per run"
    ]
    for f in plan.factors:
        lines.append(f"  factor {f.name}: baseline {f.low!r} -> target {f.high!r}")
    lines += _design_table(plan)
    time = "unknown (no finished trial)" if est.seconds is None else duration_text(est.seconds)
    lines.append(
        f"runs: {est.runs} ({est.done} done); estimated time: at most {time} "
        f"({_per_epoch(est)}; early stopping shortens runs)"
    )
    if est.half_width is not None:
        lines.append(
            f"expected 95 % interval of each effect: +/- {100 * est.half_width:.1f} points, "
            f"assuming a run-to-run SD of {100 * (est.sigma or 0):.1f} points ({est.sigma_source})"
        )
    elif plan.design == "factorial":
        lines.append("expected interval: none (no residual degrees of freedom: use --seeds 2+)")
    return "\n".join(lines)


def _design_table(plan: AblationPlan) -> list[str]:
    if plan.design == "path":
        k = len(plan.factors)
        return [
            f"design: the greedy path takes {k} steps of {k}, {k - 1}, ... 1 single changes "
            f"each, then the leave-one-out of the target: configurations depend on the results"
        ]
    design = plan.factorial
    k = len(plan.factors)
    kind = f"full 2^{k}"
    if design.kind != "full":
        kind = (
            f"2^({k}-{len(design.generators)}) fractional, resolution {design.resolution_name}, "
            f"generators {' '.join(design.generators)}"
        )
    names = [f.name for f in plan.factors]
    width = max(len(n) for n in names)
    lines = [f"design: {kind}, {len(design.rows)} points"]
    lines.append("  point  " + "  ".join(n.rjust(width) for n in names))
    for i, row in enumerate(design.rows, 1):
        cells = ("target" if x > 0 else "baseline" for x in row)
        lines.append(f"  {i:>5}  " + "  ".join(c.rjust(width) for c in cells))
    return lines


def _per_epoch(est: Estimate) -> str:
    if est.seconds_per_epoch is None:
        return "no measured epoch"
    return f"{est.seconds_per_epoch:.1f} s per epoch, the study's median"


def duration_text(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
