"""What every rerun command (``ablate``, ``confirm``, ``audit-pruner``) does around its runs:
open the storage and the study it reruns, then run its workers' loop under Ctrl-C's gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import RDBStorage

from study.ablate.worker import Measure, RunPlan, run_design
from study.rebuild import StudyRun, study_run
from study.run.interrupt import InterruptGate
from study.run.runner import Interrupted
from study.storage import DEFAULT_ARTIFACTS, default_storage_url, open_storage, pick_study

__all__ = ["MakeMeasure", "RerunOptions", "RerunSession", "open_session", "run_plan"]


@dataclass(frozen=True)
class RerunOptions:
    """The options every rerun command (``ablate``, ``confirm``, ``audit-pruner``) takes;
    None where a flag was left out."""

    study_name: str | None = None
    storage: str | None = None
    device: str | None = None
    heartbeat: int | None = None
    grace: int | None = None
    artifacts: Path = DEFAULT_ARTIFACTS

    def worker_flags(self) -> tuple[tuple[str, object, object], ...]:
        """(flag, value, default) of the worker options a resume command repeats."""
        return (("--device", self.device, None), ("--artifacts", self.artifacts, DEFAULT_ARTIFACTS))


@dataclass(frozen=True)
class RerunSession:
    """The storage, the study a command reruns, and how to rebuild any of its runs."""

    url: str
    storage: RDBStorage
    name: str
    study: optuna.Study
    run: StudyRun

    def distributions(self) -> dict[str, BaseDistribution]:
        return {p.name: p.distribution() for p in self.run.space.params}


# Makes the function that measures one run of a confirmation or an audit (default: train it;
# tests plant a known answer).
MakeMeasure = Callable[[RerunSession, optuna.Study, InterruptGate], Measure]


def open_session(opts: RerunOptions) -> RerunSession:
    """Open ``opts.storage`` (default: the project's) and its study ``opts.study_name``
    (default: its only study); UserError when the study was never run."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    url = opts.storage or default_storage_url()
    rdb = open_storage(url, heartbeat_interval=opts.heartbeat, grace_period=opts.grace)
    name = pick_study(rdb, opts.study_name, url)
    study = optuna.load_study(study_name=name, storage=rdb)
    return RerunSession(url, rdb, name, study, study_run(study))


def run_plan(
    session: RerunSession,
    linked: optuna.Study,
    plan: RunPlan,
    make: Callable[[InterruptGate], Measure],
    *,
    out: TextIO,
    resume: str,
) -> int:
    """Run ``plan``'s runs in this worker until none is needed; returns how many it measured.

    Ctrl-C marks the running run failed and raises ``Interrupted`` with the command that
    resumes (``resume``); every finished run is already in the storage.
    """
    gate = InterruptGate()
    try:
        with gate:
            measure = make(gate)
            return run_design(
                linked, session.storage, plan, measure, session.distributions(), out=out, gate=gate
            )
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted ({gate.signal_name}): the running run is marked failed and every "
            f"finished run is saved in {session.url}. Resume with: {resume}",
            signum=gate.signum,
        ) from None
