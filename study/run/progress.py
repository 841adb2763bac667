"""Live progress on the terminal: each trial and its parameters, each epoch, best so far, ETA."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState

from study import records
from study.dashboard.notes import format_duration
from vitlab.metrics import EpochMetrics

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def format_params(params: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return "  ".join(f"{k}={fmt(v)}" for k, v in params.items())


class Progress:
    """Prints as trials run; ``callback`` is an Optuna study callback for the trial summary."""

    def __init__(self, total: int, out: TextIO = sys.stdout) -> None:
        self.total, self.out = total, out
        self.start = time.perf_counter()
        self.finished_here = 0

    def on_start(self, trial: optuna.Trial, params: dict[str, Any]) -> None:
        tag = " (baseline: the seed's recipe)" if trial.user_attrs.get(records.BASELINE) else ""
        # Not "trial i/N": retries, failures, other workers and resumed studies take numbers
        # too, so a trial's number can pass the target.
        done = len(trial.study.get_trials(deepcopy=False, states=FINISHED))
        self._print(
            f"trial {trial.number} ({done}/{self.total} finished){tag}  {format_params(params)}"
        )

    def on_epoch(self, trial: optuna.Trial, m: EpochMetrics, epochs: int) -> None:
        self._print(
            f"  epoch {m.epoch:>2}/{epochs}  val top1 {m.val_top1:6.1%}  "
            f"train top1 {m.train_top1:6.1%}  gap {m.gap:+.3f}  "
            f"val loss {m.val_loss:.3f}  ({m.epoch_seconds:.1f}s)"
        )

    def callback(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.finished_here += 1
        r = records.TrialRecord.from_trial(trial)
        if r.state == TrialState.COMPLETE:
            how = (
                f"stopped early at epoch {r.epochs_run}: {r.prune_reason}; "
                if r.stopped_early
                else ""
            )
            outcome = f"  → {how}val top1 {r.value:.1%} (best epoch {r.best_epoch})"
        elif r.state == TrialState.PRUNED:
            outcome = f"  → pruned at epoch {r.epochs_run}: {r.prune_reason}"
        else:
            outcome = f"  → {r.state.name.lower()}: {r.error or 'see the storage'}"
        self._print(outcome)
        self._print("  " + self.summary(study))

    def summary(self, study: optuna.Study) -> str:
        trials = study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        done = sum(s in FINISHED for s in states)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        best = max(complete, key=lambda t: t.value, default=None)
        best_text = (
            f"best so far {best.value:.1%} (trial {best.number})"
            if best
            else "no complete trial yet"
        )
        elapsed = time.perf_counter() - self.start
        left = max(0, self.total - done)
        eta = (
            format_duration(elapsed / self.finished_here * left)
            if self.finished_here and left
            else "-"
        )
        return (
            f"{best_text} · {done}/{self.total} done · "
            f"{states.count(TrialState.PRUNED)} pruned · {states.count(TrialState.FAIL)} "
            f"failed · ETA {eta}"
        )

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)
