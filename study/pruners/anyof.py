"""Prune a trial as soon as any one of several pruners would.

Optuna's pruners each hold one rule with one warm-up. A study often wants two: a fixed floor that
stops a trial which is not learning after a few epochs (it needs no other trials), and a median
that stops mediocre trials once enough trials have finished and the curves say something (later).
``AnyOfPruner`` asks its pruners in order and prunes on the first yes; ``deciding`` says which one
it was, so the prune reason can name that rule and its numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.pruners import BasePruner
from optuna.study import Study
from optuna.trial import FrozenTrial


class AnyOfPruner(BasePruner):
    """Prune when any of ``pruners`` prunes; they are asked in order, and the first yes decides."""

    def __init__(self, pruners: Sequence[BasePruner]) -> None:
        if isinstance(pruners, str | bytes) or not isinstance(pruners, Sequence) or not pruners:
            raise ValueError(f"pruners must be a non-empty list of optuna pruners, got {pruners!r}")
        for p in pruners:
            if not isinstance(p, BasePruner):
                raise TypeError(f"pruners must be optuna pruners, got {p!r}")
        self.pruners: tuple[BasePruner, ...] = tuple(pruners)
        # (study, trial number) -> (step, index of the deciding pruner or None). Asked again at
        # the same step (for the reason), the answer is repeated: pruners such as Hyperband
        # record state as they decide and may answer otherwise a second time.
        self._decided: dict[tuple[str, int], tuple[int | None, int | None]] = {}

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        return self.deciding(study, trial) is not None

    def deciding(self, study: Study, trial: FrozenTrial) -> BasePruner | None:
        """The first pruner that prunes ``trial`` at its latest step, or None."""
        key = (study.study_name, trial.number)
        decided = self._decided.get(key)
        if decided is None or decided[0] != trial.last_step:
            index = next((i for i, p in enumerate(self.pruners) if p.prune(study, trial)), None)
            decided = (trial.last_step, index)
            self._decided[key] = decided
        return None if decided[1] is None else self.pruners[decided[1]]
