"""Synthetic curves, the objective's epoch loop and registry-built pruners, for the pruner tests
on in-memory studies."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState

from study import records
from study.pruners.decision import Decider, may_prune, take_decision
from study.pruners.registry import build_pruner

FALLING_LOSS = [3.0, 2.6, 2.3, 2.1, 2.0, 1.95, 1.9, 1.86, 1.83, 1.8]
SMALL_GAP = [0.05] * 10


def make_curves(val_loss: list[float], val_top1: list[float], gap: list[float]) -> dict[str, list]:
    n = len(val_loss)
    assert len(val_top1) == n and len(gap) == n
    return {
        "epoch": list(range(1, n + 1)),
        "val_loss": val_loss,
        "val_top1": val_top1,
        "train_top1": [v + g for v, g in zip(val_top1, gap, strict=True)],
        "gap": gap,
    }


def rule(kind: str, **settings: Any) -> Decider:
    """The pruner a space's ``pruner: {type: kind, ...}`` builds (one that knows its settings)."""
    return build_pruner({"type": kind, **settings})


def run_trial(
    study: optuna.Study,
    curves: dict[str, list],
    reasons: list | None = None,
    *,
    baseline: bool = False,
) -> Any:
    """The objective's epoch loop: store curves, report val top-1, stop at the first prune.

    The decision's text goes to ``reasons``; text and kind go to the trial's user attrs.
    """
    if baseline:  # as the runner does: the seed's recipe, enqueued with its user attr
        study.enqueue_trial({}, user_attrs={records.BASELINE: True})
    trial = study.ask()
    for i, epoch in enumerate(curves["epoch"]):
        trial.set_user_attr(records.CURVES, {k: v[: i + 1] for k, v in curves.items()})
        trial.report(curves["val_top1"][i], epoch)
        if may_prune(trial) and trial.should_prune():
            decision = take_decision(trial, step=epoch, value=curves["val_top1"][i])
            trial.set_user_attr(records.PRUNE_REASON, decision.text)
            trial.set_user_attr(records.STOP_KIND, decision.kind)
            if reasons is not None:
                reasons.append(decision.text)
            study.tell(trial, state=TrialState.PRUNED)
            return epoch
    study.tell(trial, curves["val_top1"][-1])
    return None
