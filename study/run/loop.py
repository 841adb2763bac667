"""A worker's trial loop: Optuna's ``optimize``, going on after a trial another worker failed,
and stopping after a run of failures."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState

from study import records
from study.run.objective import Objective


def optimize(
    study: optuna.Study,
    objective: Objective,
    *,
    timeout: float | None,
    callbacks: list[Callable[[optuna.Study, FrozenTrial], None]],
    out: TextIO,
) -> None:
    """``study.optimize``, going on when another worker failed this worker's trial.

    That happens when this worker's heartbeat came later than the grace period: another worker
    marked the trial FAIL and queued its retry, and Optuna's tell of it here raises ValueError.
    """
    start, left = time.monotonic(), timeout
    while True:
        try:
            study.optimize(
                objective,
                timeout=left,
                catch=(Exception,),
                gc_after_trial=False,
                callbacks=callbacks,
            )
            return
        except ValueError:
            lost = objective.current
            if lost is None or not _finished_elsewhere(study, lost.number):
                raise
            objective.current = None
            print(
                f"trial {lost.number} was failed by another worker (no heartbeat from here "
                "within --grace); it is queued again; going on",
                file=out,
                flush=True,
            )
            if timeout is not None:
                left = max(0.0, timeout - (time.monotonic() - start))


def _finished_elsewhere(study: optuna.Study, number: int) -> bool:
    """Whether trial ``number`` is finished in the storage (this worker could not tell it)."""
    trials = study.get_trials(deepcopy=False)
    return number < len(trials) and trials[number].state.is_finished()


class StopAfterFailures:
    """Stop this worker after N failed trials in a row: a broken setup must not spin forever."""

    def __init__(self, limit: int) -> None:
        self.limit, self.streak = limit, 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.streak = self.streak + 1 if trial.state == TrialState.FAIL else 0
        if self.streak >= self.limit:
            study.stop()
            print(
                f"stopping: {self.limit} trials failed in a row (last: "
                f"{records.TrialRecord.from_trial(trial).error or 'unknown error'})",
                file=sys.stderr,
            )
