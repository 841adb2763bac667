"""The answer section's facts about the compute: the trials by state, and the epochs and hours
spent, and saved by pruning and early stopping. Plain data from the trials frame.

Saved epochs: for each PRUNED trial and each COMPLETE one stopped early, its planned epochs
minus the epochs it ran. Saved hours: those epochs at that trial's own mean seconds per epoch
(a trial without seconds or epoch counts is counted as ``untimed`` instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from study.analysis.markup import Html, paragraph, table

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


@dataclass(frozen=True)
class TrialStates:
    """Trials by state (STATES order) and how much compute they took and pruning saved."""

    counts: tuple[tuple[str, int], ...]
    stopped_early: int  # COMPLETE trials stopped for overfitting at their best epoch
    epochs_run: int
    epochs_saved: int  # sum over pruned and stopped trials of planned - run epochs
    hours_spent: float
    hours_saved: float  # epochs saved x that trial's mean seconds per epoch
    untimed: int  # pruned or stopped trials whose saving is not counted: no seconds or epochs


def _numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def get_trial_states(frame: pd.DataFrame) -> TrialStates:
    """Trials by state, and the epochs and hours spent and saved by pruning and stopping."""
    state = frame["state"].astype(str)
    complete = state == "COMPLETE"
    flag = frame["stopped_early"] if "stopped_early" in frame else pd.Series(False, frame.index)
    stopped = complete & flag.astype("boolean").fillna(False).astype(bool)
    run, planned = _numbers(frame, "epochs_run"), _numbers(frame, "epochs_planned")
    seconds = _numbers(frame, "seconds")
    cut = (state == "PRUNED") | stopped
    saved_epochs, saved_seconds, untimed = 0, 0.0, 0
    for r, p, sec in zip(run[cut], planned[cut], seconds[cut], strict=True):
        left = 0 if math.isnan(r) or math.isnan(p) else max(int(p) - int(r), 0)
        saved_epochs += left
        if math.isnan(r) or math.isnan(p) or (left and (math.isnan(sec) or r <= 0)):
            untimed += 1  # a saving not counted: planned epochs or timings unknown
        elif left:
            saved_seconds += left * sec / r
    return TrialStates(
        counts=tuple((s, int((state == s).sum())) for s in STATES),
        stopped_early=int(stopped.sum()),
        epochs_run=int(run.fillna(0).sum()),
        epochs_saved=saved_epochs,
        hours_spent=float(seconds.fillna(0).sum()) / 3600,
        hours_saved=saved_seconds / 3600,
        untimed=untimed,
    )


def draw_trial_states(states: TrialStates) -> Html:
    """Trials by state and the compute spent and saved, as one table and one sentence."""
    counts = table([s for s, _ in states.counts], [[f"{n:,}" for _, n in states.counts]])
    untimed = f" ({states.untimed:,} stopped trials lack timings)" if states.untimed else ""
    return Html(
        counts
        + paragraph(
            f"{states.stopped_early:,} complete "
            f"{'trial was' if states.stopped_early == 1 else 'trials were'} stopped early "
            "(scored at the best epoch). "
            f"Spent: {states.epochs_run:,} epochs, {states.hours_spent:.2f} hours of training. "
            f"Saved by pruning and early stopping: {states.epochs_saved:,} epochs, about "
            f"{states.hours_saved:.2f} hours{untimed}."
        )
    )
