"""Optuna's pruners as deciders: each knows its kind and the settings it was built with.

Optuna keeps a pruner's settings private, and its ``prune()`` says only yes or no. The registry
builds each Optuna pruner through :meth:`OptunaRule.build`, which keeps the constructor's
arguments (defaults included), so the text of a decision carries the rule's own numbers (a
threshold's bound, a percentile) without reading the pruner's private attributes. The wrapped
pruner is asked once per step; the text is written afterwards from the trial and the study.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from optuna.pruners import BasePruner
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from study.pruners.decision import Decider, Decision, generic_kind, generic_text

Text = Callable[[Study, FrozenTrial, Mapping[str, Any]], str]


class OptunaRule(Decider):
    """An Optuna ``pruner`` as a decider of ``kind``; ``settings`` None: unknown (generic text)."""

    def __init__(
        self, kind: str, pruner: BasePruner, settings: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__()
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"kind must be a non-empty string, got {kind!r}")
        if not isinstance(pruner, BasePruner) or isinstance(pruner, Decider):
            raise TypeError(f"pruner must be an optuna pruner, got {pruner!r}")
        self.kind, self.pruner = kind, pruner
        self.settings = None if settings is None else MappingProxyType(dict(settings))

    @classmethod
    def build(
        cls, kind: str, pruner_class: type[BasePruner], settings: Mapping[str, Any]
    ) -> OptunaRule:
        """``pruner_class(**settings)``, keeping every constructor argument with its default."""
        pruner = pruner_class(**settings)
        bound = inspect.signature(pruner_class).bind(**settings)
        bound.apply_defaults()
        return cls(kind, pruner, bound.arguments)

    def decide(self, study: Study, trial: FrozenTrial) -> Decision | None:
        if not self.pruner.prune(study, trial):
            return None
        text = _TEXTS.get(self.kind) if self.settings is not None else None
        if text is None:
            return Decision(self.kind, generic_text(self.pruner, trial.last_step, _latest(trial)))
        return Decision(self.kind, text(study, trial, self.settings or {}))

    def __repr__(self) -> str:
        return f"OptunaRule({self.kind!r}, {type(self.pruner).__name__})"


def as_decider(pruner: BasePruner) -> Decider:
    """``pruner`` itself if it decides; a plain Optuna pruner wrapped, with a generic text."""
    return pruner if isinstance(pruner, Decider) else OptunaRule(generic_kind(pruner), pruner)


def _latest(trial: FrozenTrial) -> float:
    step = trial.last_step
    return math.nan if step is None else trial.intermediate_values.get(step, math.nan)


def _best(study: Study, trial: FrozenTrial) -> tuple[float, bool]:
    """The trial's best value so far (what percentile pruners compare) and whether maximized."""
    values = [v for v in trial.intermediate_values.values() if not math.isnan(v)]
    maximize = study.direction == StudyDirection.MAXIMIZE
    if not values:
        return math.nan, maximize
    return (max(values) if maximize else min(values)), maximize


def _cut(study: Study, step: int | None, percentile: float) -> float | None:
    """The finished trials' value at ``step`` at ``percentile``, as Optuna computes it."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    values = [t.intermediate_values[step] for t in done if step in t.intermediate_values]
    values = [v for v in values if not math.isnan(v)]
    return float(np.percentile(values, percentile)) if values else None


def _median(study: Study, trial: FrozenTrial, settings: Mapping[str, Any]) -> str:
    best, maximize = _best(study, trial)
    step = trial.last_step
    side, sign = ("below", "<") if maximize else ("above", ">")
    cut = _cut(study, step, 50.0)
    median = "" if cut is None else f" {sign} median {cut:.3f}"
    return f"{side} the median of earlier trials at epoch {step} (val top-1 {best:.3f}{median})"


def _percentile(study: Study, trial: FrozenTrial, settings: Mapping[str, Any]) -> str:
    # Optuna keeps the best `percentile` % of the finished trials at each step.
    best, maximize = _best(study, trial)
    step, keep = trial.last_step, settings["percentile"]
    side, sign = ("below", "<") if maximize else ("above", ">")
    cut = _cut(study, step, 100 - keep if maximize else keep)
    numbers = f"val top-1 {best:.3f}" + ("" if cut is None else f" {sign} cut {cut:.3f}")
    kept = f"the cut that keeps the best {keep:g} % of earlier trials"
    return f"{side} {kept} at epoch {step} ({numbers})"


def _halving(study: Study, trial: FrozenTrial, settings: Mapping[str, Any]) -> str:
    step = trial.last_step
    return f"not promoted by successive halving at epoch {step} (val top-1 {_latest(trial):.3f})"


def _threshold(study: Study, trial: FrozenTrial, settings: Mapping[str, Any]) -> str:
    step, latest = trial.last_step, _latest(trial)
    lower, upper = settings.get("lower"), settings.get("upper")
    if lower is not None and latest < lower:
        return f"val top-1 {latest:.3f} below the floor {lower:g} at epoch {step}"
    if upper is not None and latest > upper:
        return f"val top-1 {latest:.3f} above the ceiling {upper:g} at epoch {step}"
    return f"val top-1 {latest:.3f} outside the threshold at epoch {step}"  # NaN


def _patient(study: Study, trial: FrozenTrial, settings: Mapping[str, Any]) -> str:
    # PatientPruner: every one of the last patience + 1 values is worse than the best before
    # them by more than min_delta; then its wrapped pruner (if any) decides.
    patience, delta, inner = settings["patience"], settings["min_delta"], settings["wrapped_pruner"]
    values = [v for _, v in sorted(trial.intermediate_values.items())][: -patience - 1]
    values = [v for v in values if not math.isnan(v)]
    maximize = study.direction == StudyDirection.MAXIMIZE
    best = (max(values) if maximize else min(values)) if values else math.nan
    under = "under" if maximize else "over"
    by = f"more than {delta:g} {under}" if delta else under
    text = (
        f"val top-1 {by} its earlier best {best:.3f} for {patience + 1} epochs"
        f" at epoch {trial.last_step} (val top-1 {_latest(trial):.3f})"
    )
    # The wrapped decider decided once, inside PatientPruner.prune, and recorded its decision.
    decided = inner.take(study, trial.number) if isinstance(inner, Decider) else None
    return text if decided is None else f"{text}; {decided.text}"


_TEXTS: dict[str, Text] = {
    "median": _median,
    "percentile": _percentile,
    "hyperband": _halving,
    "threshold": _threshold,
    "patient": _patient,
}
