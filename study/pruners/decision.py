"""Why a trial was stopped: the text of the pruner's decision."""

from __future__ import annotations

import math
import statistics

import optuna
from optuna.pruners import (
    BasePruner,
    HyperbandPruner,
    MedianPruner,
    PercentilePruner,
    SuccessiveHalvingPruner,
    ThresholdPruner,
)
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from study import records
from study.pruners.anyof import AnyOfPruner
from study.pruners.floor import FloorPruner
from study.pruners.overfitting import OverfittingPruner


def describe_pruning(pruner: BasePruner, study: Study, trial: FrozenTrial) -> str:
    """A text for a trial that ``pruner`` prunes at its latest step (for pruners without one)."""
    if isinstance(pruner, AnyOfPruner):
        member = pruner.deciding(study, trial)
        if member is not None:
            return describe_pruning(member, study, trial)
    if isinstance(pruner, FloorPruner) and (why := pruner.reason(study, trial)):
        return why
    step = trial.last_step
    values = [v for v in trial.intermediate_values.values() if not math.isnan(v)]
    latest = trial.intermediate_values.get(step, math.nan) if step is not None else math.nan
    if isinstance(pruner, PercentilePruner) and values:
        # Percentile pruners compare the trial's best value so far with the cut at this step.
        maximize = study.direction == StudyDirection.MAXIMIZE
        best, side = (max(values), "below") if maximize else (min(values), "above")
        if not isinstance(pruner, MedianPruner):
            return f"{side} the percentile cut of earlier trials at epoch {step} (best {best:.3f})"
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        others = [t.intermediate_values.get(step, math.nan) for t in done]
        others = [v for v in others if not math.isnan(v)]
        sign = "<" if maximize else ">"
        cut = f" {sign} median {statistics.median(others):.3f}" if others else ""
        return f"{side} the median of earlier trials at epoch {step} (val top-1 {best:.3f}{cut})"
    if isinstance(pruner, HyperbandPruner | SuccessiveHalvingPruner):
        return f"not promoted by successive halving at epoch {step} (val top-1 {latest:.3f})"
    if isinstance(pruner, ThresholdPruner):
        # Optuna keeps the bounds private; the text still reads without them.
        lower, upper = getattr(pruner, "_lower", -math.inf), getattr(pruner, "_upper", math.inf)
        if latest < lower:
            return f"val top-1 {latest:.3f} below the floor {lower:g} at epoch {step}"
        if latest > upper:
            return f"val top-1 {latest:.3f} above the ceiling {upper:g} at epoch {step}"
        return f"val top-1 {latest:.3f} outside the threshold at epoch {step}"
    return f"pruned by {type(pruner).__name__} at epoch {step} (val top-1 {latest:.3f})"


def may_prune(trial: optuna.Trial) -> bool:
    """Whether to ask the study's pruner about ``trial``: the baseline is never stopped as bad.

    An OverfittingPruner asks only its overfitting rules about the baseline (early stopping, which
    scores it at its best epoch); any other pruner has only bad-trial rules, so it is not asked.
    """
    return not trial.user_attrs.get(records.BASELINE) or isinstance(
        trial.study.pruner, OverfittingPruner
    )


def prune_reason(trial: optuna.Trial) -> str | None:
    """Why the study's pruner prunes ``trial``: call it once ``trial.should_prune()`` is True."""
    study = trial.study
    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
    if isinstance(study.pruner, OverfittingPruner):
        return study.pruner.reason(study, frozen)
    return describe_pruning(study.pruner, study, frozen)
