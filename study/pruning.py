"""Prune trials that overfit; hand trials that are simply bad to a wrapped Optuna pruner.

The objective stores the per-epoch curves in the trial user attr ``"curves"`` (equal-length lists,
one entry per finished epoch: ``val_loss``, ``val_top1``, ``gap`` = train - val top-1, ...), then
reports val top-1 and asks ``trial.should_prune()``. Two rules read those curves, over the last
``patience`` epochs (the *window*) against the epochs before it:

1. val loss: every window epoch has ``val_loss > best + min_delta``, best = min val loss before
   the window, i.e. no epoch in ``patience`` came back within ``min_delta`` of the best; and,
   when the curves have ``train_probe_loss`` (the un-augmented train loss), it is lower at the
   latest epoch than at the val-loss best. Val loss rising while train loss falls is overfitting;
   both rising is a trial losing its footing (heavy augmentation knocking pretrained features
   about, a too-high learning rate), which is not overfitting and is left to the wrapped pruner.
2. gap: ``gap > gap_threshold`` at the latest epoch and no window epoch set a new best val top-1
   by more than ``min_delta`` (``max(window) <= best before + min_delta``).

Neither rule decides before ``max(warmup_epochs, patience + 1)`` epochs have finished. NaN entries
are skipped (never a best, never a rise, never an improvement), and a NaN at the latest epoch
decides nothing. Missing, short or malformed curves never prune.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.pruners import (
    BasePruner,
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    PatientPruner,
    PercentilePruner,
    SuccessiveHalvingPruner,
    ThresholdPruner,
)
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from study.anyof import AnyOfPruner
from study.floor import BASELINE_ATTR, FloorPruner

PRUNE_REASON_ATTR = "prune_reason"
DEFAULT_PRUNER_SETTINGS: Mapping[str, Any] = {
    "type": "overfitting",
    "warmup_epochs": 2,
    "patience": 3,
    "min_delta": 0.0,
    "gap_threshold": 0.3,
    "wrapped": {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 2},
}


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class OverfitRule:
    """The overfitting settings; see the module docstring for what they mean."""

    warmup_epochs: int = 2
    patience: int = 3
    min_delta: float = 0.0
    gap_threshold: float | None = 0.3

    def __post_init__(self) -> None:
        if not _is_int(self.warmup_epochs) or self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be an integer >= 0, got {self.warmup_epochs!r}")
        if not _is_int(self.patience) or self.patience < 1:
            raise ValueError(f"patience must be an integer >= 1, got {self.patience!r}")
        if not _is_real(self.min_delta) or not 0 <= self.min_delta < math.inf:
            raise ValueError(f"min_delta must be a finite number >= 0, got {self.min_delta!r}")
        g = self.gap_threshold
        # `not 0 < g <= 1` is also true for NaN.
        if g is not None and (not _is_real(g) or not 0 < g <= 1):
            raise ValueError(f"gap_threshold must be in (0, 1] or None, got {g!r}")


def _series(curves: Any, key: str) -> list[float] | None:
    """``curves[key]`` as floats (None -> NaN, JSON has no NaN), or None if absent or malformed."""
    values = curves.get(key) if isinstance(curves, Mapping) else None
    if not isinstance(values, Sequence) or isinstance(values, str | bytes):
        return None
    try:
        return [math.nan if v is None else float(v) for v in values]
    except (TypeError, ValueError):
        return None


def _best_before_window(
    values: list[float], rule: OverfitRule, *, lower: bool
) -> tuple[float, int] | None:
    """(best value, its index) over the epochs before the window, or None if no decision yet."""
    n = len(values)
    if n < max(rule.warmup_epochs, rule.patience + 1) or math.isnan(values[-1]):
        return None
    earlier = [(v, i) for i, v in enumerate(values[: n - rule.patience]) if not math.isnan(v)]
    if not earlier:
        return None
    # Ties go to the earliest epoch: that is when the curve stopped improving.
    return min(earlier, key=lambda p: (p[0] if lower else -p[0], p[1]))


def _still_fitting(train_loss: list[float] | None, val_loss: list[float], at: int) -> bool:
    """Train loss fell since epoch ``at`` (True when the curves have no train loss to read)."""
    if train_loss is None or len(train_loss) != len(val_loss):
        return True
    then, now = train_loss[at], train_loss[-1]
    return math.isnan(then) or math.isnan(now) or now < then


def overfitting_reason(curves: Mapping[str, Sequence[float]], rule: OverfitRule) -> str | None:
    """The overfitting text if a rule fires at the latest epoch of ``curves``, else None. Pure."""
    loss, top1, gap = (_series(curves, k) for k in ("val_loss", "val_top1", "gap"))
    epochs = _series(curves, "epoch")
    p, delta = rule.patience, rule.min_delta

    train_loss = _series(curves, "train_probe_loss")
    if loss and (found := _best_before_window(loss, rule, lower=True)):
        best, at = found
        window = [v for v in loss[-p:] if not math.isnan(v)]
        if all(v > best + delta for v in window) and _still_fitting(train_loss, loss, at):
            text = f"overfitting: val loss rose {p} epochs ({best:.3f} → {loss[-1]:.3f})"
            if gap and len(gap) == len(loss) and not math.isnan(gap[-1]):
                text += f", gap {gap[-1]:.2f}"
            return text

    threshold = rule.gap_threshold
    if threshold is None or not gap or not top1 or len(gap) != len(top1):
        return None
    if not gap[-1] > threshold or not (found := _best_before_window(top1, rule, lower=False)):
        return None
    best, at = found
    if max(v for v in top1[-p:] if not math.isnan(v)) > best + delta:
        return None
    labelled = epochs and len(epochs) == len(top1) and math.isfinite(epochs[at])
    epoch = int(epochs[at]) if labelled else at + 1
    # With min_delta, "flat" allows small gains: say so, or a later, slightly higher best epoch
    # reads as a contradiction.
    flat = "flat" if delta == 0 else f"no more than {delta:g} above its best"
    return (
        f"overfitting: gap {gap[-1]:.2f} > {threshold:.2f} and val top-1 {flat} for {p} epochs"
        f" (best {best:.3f} at epoch {epoch})"
    )


class OverfittingPruner(BasePruner):
    """Prune a trial that overfits (see the module docstring), or that ``wrapped`` prunes.

    The overfitting rules read the trial's curves, not its direction; ``wrapped`` (a median or
    Hyperband pruner, typically) handles the study direction for trials that are simply bad. The
    baseline (user attr ``baseline: True``), the reference for every effect, is never stopped as
    bad: only the overfitting rules are asked about it.
    """

    def __init__(
        self,
        *,
        warmup_epochs: int = 2,
        patience: int = 3,
        min_delta: float = 0.0,
        gap_threshold: float | None = 0.3,
        wrapped: BasePruner | None = None,
        curves_key: str = "curves",
    ) -> None:
        self.rule = OverfitRule(warmup_epochs, patience, min_delta, gap_threshold)
        if wrapped is not None and not isinstance(wrapped, BasePruner):
            raise TypeError(f"wrapped must be an optuna pruner or None, got {wrapped!r}")
        if not isinstance(curves_key, str) or not curves_key:
            raise ValueError(f"curves_key must be a non-empty string, got {curves_key!r}")
        self.wrapped = wrapped
        self.curves_key = curves_key
        # (study, trial number) -> (step, reason) of the last decision: reason() must repeat it,
        # because pruners such as Hyperband record state as they decide and may answer otherwise.
        self._decided: dict[tuple[str, int], tuple[int | None, str | None]] = {}

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        why = self._reason(study, trial)
        self._decided[(study.study_name, trial.number)] = (trial.last_step, why)
        return why is not None

    def reason(self, study: Study, trial: FrozenTrial) -> str | None:
        """Why this pruner prunes ``trial`` at its latest step, or None if it does not."""
        decided = self._decided.get((study.study_name, trial.number))
        if decided is not None and decided[0] == trial.last_step:
            return decided[1]
        return self._reason(study, trial)

    def _reason(self, study: Study, trial: FrozenTrial) -> str | None:
        curves = trial.user_attrs.get(self.curves_key)
        why = overfitting_reason(curves, self.rule) if isinstance(curves, Mapping) else None
        # The baseline, the reference for every effect, is never stopped as a bad trial.
        if why is not None or self.wrapped is None or trial.user_attrs.get(BASELINE_ATTR):
            return why
        if self.wrapped.prune(study, trial):
            why = describe_pruning(self.wrapped, study, trial)
        return why


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
    return not trial.user_attrs.get(BASELINE_ATTR) or isinstance(
        trial.study.pruner, OverfittingPruner
    )


def prune_reason(trial: optuna.Trial) -> str | None:
    """Why the study's pruner prunes ``trial``: call it once ``trial.should_prune()`` is True."""
    study = trial.study
    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
    if isinstance(study.pruner, OverfittingPruner):
        return study.pruner.reason(study, frozen)
    return describe_pruning(study.pruner, study, frozen)


# type -> (class, accepted keys, required keys). Values go to the constructors unchanged, so
# Optuna checks its own ranges.
_STEPS = ("n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials")
_TYPES: dict[str, tuple[Any, tuple[str, ...], tuple[str, ...]]] = {
    "overfitting": (
        OverfittingPruner,
        ("warmup_epochs", "patience", "min_delta", "gap_threshold", "wrapped", "curves_key"),
        (),
    ),
    "median": (MedianPruner, _STEPS, ()),
    "percentile": (PercentilePruner, ("percentile", *_STEPS), ("percentile",)),
    "hyperband": (
        HyperbandPruner,
        ("min_resource", "max_resource", "reduction_factor", "bootstrap_count"),
        (),
    ),
    "patient": (PatientPruner, ("patience", "min_delta", "wrapped"), ("patience",)),
    "threshold": (ThresholdPruner, ("lower", "upper", "n_warmup_steps", "interval_steps"), ()),
    "floor": (FloorPruner, ("baseline_fraction", "chance_multiple", "n_warmup_steps"), ()),
    "any": (AnyOfPruner, ("pruners",), ("pruners",)),
    "nop": (NopPruner, (), ()),
}
_ALIASES = {"none": "nop"}


def build_pruner(settings: Mapping[str, Any] | None) -> BasePruner:
    """The pruner a search-space YAML ``pruner:`` mapping describes; None gives the default."""
    return _build(DEFAULT_PRUNER_SETTINGS if settings is None else settings, "pruner")


def _build(settings: Any, where: str) -> BasePruner:
    names = ", ".join(sorted([*_TYPES, *_ALIASES]))
    if not isinstance(settings, Mapping):
        raise ValueError(f"{where}: expected a mapping with a 'type' ({names}), got {settings!r}")
    kwargs = dict(settings)
    if "type" not in kwargs:
        raise ValueError(f"{where}: missing 'type' (one of {names})")
    kind = kwargs.pop("type")
    kind = _ALIASES.get(str(kind).lower(), str(kind).lower())
    if kind not in _TYPES:
        raise ValueError(f"{where}.type: unknown pruner type {settings['type']!r} (valid: {names})")
    cls, keys, required = _TYPES[kind]
    for key in kwargs:
        if key not in keys:
            valid = ", ".join(sorted(keys)) or "none"
            raise ValueError(f"{where}: unknown key {key!r} for type {kind!r} (valid: {valid})")
    for key in required:
        if key not in kwargs:
            raise ValueError(f"{where}: type {kind!r} needs {key!r}")
    if kind == "any":
        members = kwargs["pruners"]
        if not isinstance(members, list) or not members:
            got = f"got {members!r}"
            raise ValueError(f"{where}.pruners: expected a non-empty list of pruners, {got}")
        kwargs["pruners"] = [_build(m, f"{where}.pruners[{i}]") for i, m in enumerate(members)]
    if "wrapped" in keys:
        inner = kwargs.pop("wrapped", None)
        inner = None if inner is None else _build(inner, f"{where}.wrapped")
        kwargs["wrapped" if kind == "overfitting" else "wrapped_pruner"] = inner
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:  # a TypeError here is a bad value from YAML, too
        raise ValueError(f"{where} ({kind}): {e}") from e
