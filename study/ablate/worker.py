"""A rerun worker's loop: claim a needed run, measure it, tell the storage, until the design
(or the confirmation's, the audit's set of runs) is complete. Several workers on one storage
share the runs (``runs.claim``).

The loop reads the design's state from the storage on every pass, so a path's next step starts
as soon as any worker finished the step before, and a resumed ablation starts where the last one
stopped. Every design point must be measured, so no run is pruned as bad; the study's
overfitting rules still stop a run early, and it is scored at its best epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol, TextIO

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import RDBStorage

# Optuna's optimize() runs each trial inside this heartbeat; ask-and-tell has no public one.
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.trial import TrialState

from study import records
from study.ablate.runs import KEY, POINT, RUN_EPOCHS, RUN_SEED, RunSpec, claim, observed
from study.run.interrupt import InterruptGate
from vitlab.errors import UserError

__all__ = ["Measure", "RunPlan", "run_design", "spec_of"]

# Measure a run: its val top-1 at the best epoch. The real one trains (``measure.Trainer``);
# tests plant a known answer.
Measure = Callable[[optuna.Trial, RunSpec], float]


class RunPlan(Protocol):
    """What a worker runs: an ablation's design (``AblationPlan``) or a fixed set of runs
    (``runs.FixedRuns``), asked afresh on every pass with the values finished so far."""

    def needed(self, values: Mapping[str, float]) -> list[RunSpec]: ...

    def total_runs(self) -> int: ...

    def done(self, values: Mapping[str, float]) -> int: ...


MAX_FAILURES_IN_A_ROW = 3  # a broken setup stops this worker instead of failing every run
POLL_SECONDS = 2.0  # waiting for another worker's last runs of a path step


def spec_of(trial: optuna.Trial) -> RunSpec:
    """The run a popped trial holds (any design's: a worker runs whatever is queued)."""
    attrs = trial.user_attrs
    return RunSpec(dict(trial.params), int(attrs[RUN_SEED]), int(attrs[RUN_EPOCHS]))


def run_design(
    linked: optuna.Study,
    storage: RDBStorage,
    plan: RunPlan,
    measure: Measure,
    distributions: Mapping[str, BaseDistribution],
    *,
    out: TextIO,
    gate: InterruptGate | None = None,
    poll: float = POLL_SECONDS,
) -> int:
    """Run the plan's runs until none is needed; returns how many this worker measured."""
    gate = gate or InterruptGate()
    measured, failures = 0, 0
    total = plan.total_runs()
    while True:
        gate.check()
        values = observed(linked)
        needed = plan.needed(values)
        if not needed:
            return measured
        trial = claim(linked, storage, needed, distributions)
        if trial is None:  # the last needed runs are running in other workers
            with gate.open():
                time.sleep(poll)
            continue
        done = min(plan.done(values), total - 1)
        ok = _run_one(linked, trial, measure, out, done=done, total=total)
        measured += ok
        failures = 0 if ok else failures + 1
        if failures >= MAX_FAILURES_IN_A_ROW:
            error = trial.user_attrs.get(records.ERROR, "unknown error")
            raise UserError(f"stopping: {failures} runs failed in a row (last: {error})")


def _run_one(
    linked: optuna.Study,
    trial: optuna.Trial,
    measure: Measure,
    out: TextIO,
    *,
    done: int,
    total: int,
) -> bool:
    """Measure one claimed run under a heartbeat and tell its end; False when it failed."""
    spec = spec_of(trial)
    start = time.perf_counter()
    print(
        f"run {done + 1}/{total} ({_levels(trial, spec)}; its trial {trial.number})",
        file=out,
        flush=True,
    )
    with get_heartbeat_thread(trial._trial_id, linked._storage):
        try:
            value = measure(trial, spec)
        except KeyboardInterrupt:
            linked.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as e:  # recorded on the run; the claim retries it (MAX_ATTEMPTS)
            if records.ERROR not in trial.user_attrs:
                trial.set_user_attr(records.ERROR, f"{type(e).__name__}: {e}")
            linked.tell(trial, state=TrialState.FAIL)
            print(f"  failed: {type(e).__name__}: {e}", file=out, flush=True)
            return False
    linked.tell(trial, value)
    seconds = time.perf_counter() - start
    print(f"  val top1 {value:.1%} ({seconds:.0f} s)", file=out, flush=True)
    return True


def _levels(trial: optuna.Trial, spec: RunSpec) -> str:
    levels = trial.user_attrs.get("ablate_levels") or {}
    targets = [name for name, level in levels.items() if level == "target"]
    if not levels:  # a confirmation's or an audit's run: its point says what it reruns
        return str(trial.user_attrs.get(POINT) or f"key {trial.user_attrs.get(KEY)}")
    named = "target's " + ", ".join(targets) if targets else "the baseline"
    return f"{named}, seed {spec.seed}"
