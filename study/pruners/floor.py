"""A floor on val top-1 that holds across datasets: relative to the baseline's curve, or to chance.

An absolute floor is made for one dataset: 15 % val top-1 at epoch 3 separates learning from not
learning on the demo (200 classes), yet prunes the seed's own recipe on a 121-class photo set
where it scored 11.5 % at that epoch. ``FloorPruner`` measures a trial against what the dataset
itself defines:

- ``baseline_fraction`` f: prune a trial whose val top-1 at epoch s is below f x the baseline's
  val top-1 at the same epoch s (the baseline is the trial with user attr ``baseline: True``);
- ``chance_multiple`` m: prune a trial below m x chance (1 / the number of classes, read from the
  study user attr ``classes`` that the runner records).

With both, the baseline decides wherever it has a value at that epoch; chance decides where it has
none: the baseline is still running in another worker and has not got there yet, or it stopped
early (overfitting) before that epoch. With only ``baseline_fraction`` and no baseline value at
that epoch, the trial is not pruned: a floor never prunes on missing data. Nor without the
``classes`` attr, for the chance floor. A NaN value is left to the other rules (a NaN loss fails
the trial in the engine anyway).

The floor compares the values the trial reports (val top-1, maximised), from epoch
``n_warmup_steps`` on; the baseline trial itself is never pruned by it.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from study import records
from study.pruners.decision import FLOOR, Decider, Decision


def _is_fraction(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < value <= 1


class FloorPruner(Decider):
    """Prune a trial below a fraction of the baseline's val top-1, or below a multiple of chance."""

    kind = FLOOR

    def __init__(
        self,
        *,
        baseline_fraction: float | None = None,
        chance_multiple: float | None = None,
        n_warmup_steps: int = 0,
    ) -> None:
        f, m = baseline_fraction, chance_multiple
        if f is None and m is None:
            raise ValueError("a floor needs baseline_fraction or chance_multiple, got neither")
        if f is not None and not _is_fraction(f):
            raise ValueError(f"baseline_fraction must be in (0, 1], got {f!r}")
        real = isinstance(m, numbers.Real) and not isinstance(m, bool)
        # `not m >= 1` is also true for NaN.
        if m is not None and (not real or not 1 <= m < math.inf):
            raise ValueError(f"chance_multiple must be a finite number >= 1, got {m!r}")
        w = n_warmup_steps
        if not isinstance(w, numbers.Integral) or isinstance(w, bool) or w < 0:
            raise ValueError(f"n_warmup_steps must be an integer >= 0, got {w!r}")
        super().__init__()
        self.baseline_fraction, self.chance_multiple, self.n_warmup_steps = f, m, int(w)

    def decide(self, study: Study, trial: FrozenTrial) -> Decision | None:
        why = self._below(study, trial)
        return None if why is None else Decision(FLOOR, why)

    def _below(self, study: Study, trial: FrozenTrial) -> str | None:
        """Why ``trial`` is below the floor at its latest step, or None if it is not."""
        if study.direction != StudyDirection.MAXIMIZE:
            raise ValueError(f"a floor on val top-1 needs a maximized study, got {study.direction}")
        step = trial.last_step
        if step is None or step < self.n_warmup_steps or trial.user_attrs.get(records.BASELINE):
            return None
        value = trial.intermediate_values[step]
        if math.isnan(value):
            return None
        reference = self.baseline_value(study, trial, step)
        if self.baseline_fraction is not None and reference is not None:
            if value < self.baseline_fraction * reference:
                share = "half" if self.baseline_fraction == 0.5 else f"{self.baseline_fraction:g} x"
                return (
                    f"val top-1 {value:.3f} below {share} the baseline's {reference:.3f}"
                    f" at epoch {step}"
                )
            return None
        chance = self.chance(study)
        if self.chance_multiple is None or chance is None:
            return None
        floor = self.chance_multiple * chance
        if value < floor:
            missing = "" if self.baseline_fraction is None else ", with no baseline value there"
            return (
                f"val top-1 {value:.3f} below {self.chance_multiple:g}x chance ({floor:.3f})"
                f" at epoch {step}{missing}"
            )
        return None

    @staticmethod
    def baseline_value(study: Study, trial: FrozenTrial, step: int) -> float | None:
        """The baseline's val top-1 at ``step``: the earliest baseline trial that reported one.

        A baseline retried after a lost worker is a second trial of the same recipe and seed;
        any of them that got to ``step`` measured it.
        """
        for other in study.get_trials(deepcopy=False):
            if other.number == trial.number or other.state == TrialState.WAITING:
                continue
            if not other.user_attrs.get(records.BASELINE):
                continue
            value = other.intermediate_values.get(step)
            if value is not None and not math.isnan(value):
                return value
        return None

    @staticmethod
    def chance(study: Study) -> float | None:
        """1 / the number of classes in the study user attr ``classes`` (a list or a count)."""
        classes = study.user_attrs.get(records.CLASSES)
        n = len(classes) if isinstance(classes, list) else classes
        if isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0:
            return 1 / n
        return None
