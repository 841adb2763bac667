"""Prune trials that overfit; hand trials that are simply bad to a wrapped Optuna pruner.

The objective stores the per-epoch curves in the user attr ``records.CURVES`` (equal-length lists,
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optuna.pruners import BasePruner
from optuna.study import Study
from optuna.trial import FrozenTrial

from study import records
from study.pruners.decision import OVERFITTING, Decider, Decision
from study.pruners.optuna_rules import as_decider


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
    loss, top1, gap = (
        _series(curves, k) for k in (records.VAL_LOSS, records.VAL_TOP1, records.GAP)
    )
    epochs = _series(curves, records.EPOCH)
    p, delta = rule.patience, rule.min_delta

    train_loss = _series(curves, records.TRAIN_PROBE_LOSS)
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


class OverfittingPruner(Decider):
    """Prune a trial that overfits (see the module docstring), or that ``wrapped`` prunes.

    The overfitting rules read the trial's curves, not its direction; ``wrapped`` (a median or
    Hyperband pruner, typically) handles the study direction for trials that are simply bad. The
    baseline (user attr ``baseline: True``), the reference for every effect, is never stopped as
    bad: only the overfitting rules are asked about it. A plain Optuna ``wrapped`` is wrapped
    (:func:`as_decider`) and decides with a generic text.
    """

    kind = OVERFITTING
    stops_baseline = True  # early stopping: the overfitting rules are asked about the baseline

    def __init__(
        self,
        *,
        warmup_epochs: int = 2,
        patience: int = 3,
        min_delta: float = 0.0,
        gap_threshold: float | None = 0.3,
        wrapped: BasePruner | None = None,
        curves_key: str = records.CURVES,
    ) -> None:
        self.rule = OverfitRule(warmup_epochs, patience, min_delta, gap_threshold)
        if wrapped is not None and not isinstance(wrapped, BasePruner):
            raise TypeError(f"wrapped must be an optuna pruner or None, got {wrapped!r}")
        if not isinstance(curves_key, str) or not curves_key:
            raise ValueError(f"curves_key must be a non-empty string, got {curves_key!r}")
        super().__init__()
        self.wrapped: Decider | None = None if wrapped is None else as_decider(wrapped)
        self.curves_key = curves_key

    def decide(self, study: Study, trial: FrozenTrial) -> Decision | None:
        """Overfitting first; else, for a trial that is not the baseline, the wrapped decision."""
        curves = trial.user_attrs.get(self.curves_key)
        why = overfitting_reason(curves, self.rule) if isinstance(curves, Mapping) else None
        if why is not None:
            return Decision(OVERFITTING, why)
        # The baseline, the reference for every effect, is never stopped as a bad trial.
        if self.wrapped is None or trial.user_attrs.get(records.BASELINE):
            return None
        return self.wrapped.decide(study, trial)
