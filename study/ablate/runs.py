"""Reruns of a study's configurations as trials of a linked study in the study's storage:
``<study>:ablate`` for the ablation, ``<study>:confirm`` and ``<study>:audit`` for the
confirmation and the pruner audit (their attrs keep the ``ablate_`` names they began with).

A run is a configuration (every parameter), a seed and a number of epochs; its key is a digest
of the three, so the same run asked for by two designs (the baseline corner of a factorial and
the start of a path) is measured once and counts for both. Workers share the runs through the
storage as ``run``'s do: under one database-wide lock a worker enqueues the runs still missing
and pops one waiting trial, so no run is enqueued or popped twice. A worker killed mid-run
leaves its trial RUNNING until its heartbeat is stale; Optuna then fails it and queues its
retry (``RetryHeartbeatStaleTrialCallback``), which the next claim pops.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from study import records
from study.storage import exclusive
from vitlab.errors import UserError

__all__ = [
    "DESIGNS_ATTR",
    "KEY",
    "FixedRuns",
    "MAX_ATTEMPTS",
    "RunSpec",
    "claim",
    "designs",
    "linked_name",
    "observed",
    "open_linked",
    "record_design",
]

LINK_SUFFIX = ":ablate"
# Trial user attrs of a run (besides the objective's records.* attrs)
KEY = "ablate_key"  # the run's digest: the one identity workers and resumes agree on
RUN_SEED = "ablate_seed"
RUN_EPOCHS = "ablate_epochs"
LEVELS = "ablate_levels"  # {factor: "baseline" | "target"} in the design that first asked for it
POINT = "ablate_point"  # the design point it is, in the design that first asked for it
MEASURES = records.MEASURES  # the study the run measures (also a study attr of the linked one)
DESIGNS_ATTR = "ablate_designs"  # study attr: every design asked for, as AblationPlan.record()
MAX_ATTEMPTS = 3  # a run that raised this many times stops the ablation with its error


def linked_name(study_name: str, suffix: str = LINK_SUFFIX) -> str:
    """The linked study that holds ``study_name``'s reruns of one kind (ablation by default)."""
    return f"{study_name}{suffix}"


@dataclass(frozen=True)
class RunSpec:
    """One run: a configuration, a seed, epochs; and the factor levels it stands for."""

    params: Mapping[str, Any]
    seed: int
    epochs: int
    levels: Mapping[str, str] | None = None  # for the record only: not part of the identity
    point: str | None = None  # "factorial to fix_list, ...: point 3 of 16" (the record only)

    @property
    def key(self) -> str:
        return run_key(self.params, self.seed, self.epochs)

    def user_attrs(self, measures: str) -> dict[str, Any]:
        return {
            KEY: self.key,
            RUN_SEED: self.seed,
            RUN_EPOCHS: self.epochs,
            LEVELS: dict(self.levels or {}),
            POINT: self.point,
            MEASURES: measures,
        }


@dataclass(frozen=True)
class FixedRuns:
    """A set of runs known in advance (the confirmation's, the audit's): a worker's plan."""

    specs: tuple[RunSpec, ...]

    def needed(self, values: Mapping[str, float]) -> list[RunSpec]:
        return [s for s in self.specs if s.key not in values]

    def total_runs(self) -> int:
        return len({s.key for s in self.specs})

    def done(self, values: Mapping[str, float]) -> int:
        return len({s.key for s in self.specs if s.key in values})


def run_key(params: Mapping[str, Any], seed: int, epochs: int) -> str:
    """The digest of a run; floats by their repr, so 0.05 and 0.05000000000000001 differ."""
    plain = {k: (float(v) if isinstance(v, float) else v) for k, v in sorted(params.items())}
    text = json.dumps({"params": plain, "seed": seed, "epochs": epochs}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def open_linked(
    storage: RDBStorage,
    study_name: str,
    pruner: optuna.pruners.BasePruner,
    suffix: str = LINK_SUFFIX,
) -> optuna.Study:
    """The linked study (created the first time), maximizing val top-1 as the study does.

    Its sampler never samples: every trial is an enqueued run with all its parameters fixed.
    """
    study = optuna.create_study(
        study_name=linked_name(study_name, suffix),
        storage=storage,
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=pruner,
        direction="maximize",
        load_if_exists=True,
    )
    if study.user_attrs.get(MEASURES) != study_name:
        study.set_user_attr(MEASURES, study_name)
    with warnings.catch_warnings():  # set_metric_names is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([records.VAL_TOP1])
    return study


def observed(study: optuna.Study) -> dict[str, float]:
    """Each finished run's value by key (a run is finished when COMPLETE)."""
    found: dict[str, float] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = t.user_attrs.get(KEY)
        if key is not None and t.value is not None:
            found.setdefault(key, float(t.value))
    return found


def claim(
    study: optuna.Study,
    storage: RDBStorage,
    needed: Sequence[RunSpec],
    distributions: Mapping[str, BaseDistribution],
) -> optuna.Trial | None:
    """Enqueue the ``needed`` runs no trial holds yet, then pop one waiting run (None: every
    needed run is running in another worker). One worker at a time, on every machine."""
    with exclusive(storage, f"study:{study.study_name}:claim"):
        _fail_stale(study)
        held, failures = _held_keys(study)
        for spec in needed:
            if spec.key in held:
                continue
            if failures.get(spec.key, ("", 0))[1] >= MAX_ATTEMPTS:
                error, n = failures[spec.key]
                raise UserError(
                    f"run {dict(spec.params)} (seed {spec.seed}) failed {n} times, last with: "
                    f"{error}; fix the cause and run the same command again"
                )
            study.enqueue_trial(dict(spec.params), user_attrs=spec.user_attrs(_measures(study)))
            held.add(spec.key)
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return None
        with warnings.catch_warnings():  # the worker runs the trial inside Optuna's heartbeat
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            return study.ask(dict(distributions))


def _measures(study: optuna.Study) -> str:
    return str(study.user_attrs.get(MEASURES, study.study_name.rsplit(":", 1)[0]))


def _held_keys(study: optuna.Study) -> tuple[set[str], dict[str, tuple[str, int]]]:
    """Keys of runs that are done, running or queued; and per key, the failed attempts."""
    held: set[str] = set()
    failures: dict[str, tuple[str, int]] = {}
    alive = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    for t in study.get_trials(deepcopy=False):
        key = t.user_attrs.get(KEY)
        if key is None:
            continue
        if t.state in alive:
            held.add(key)
        elif t.state == TrialState.FAIL and t.user_attrs.get(records.ERROR):
            # A stale trial (a killed worker) failed without an error: its retry is queued.
            _, n = failures.get(key, ("", 0))
            failures[key] = (str(t.user_attrs[records.ERROR]), n + 1)
    return held, failures


def _fail_stale(study: optuna.Study) -> None:
    """Fail the trials of workers whose heartbeat stopped (and queue their retries) now, as
    Optuna's own ``optimize`` does before each trial."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def record_design(linked: optuna.Study, storage: RDBStorage, plan: Any) -> None:
    """Add ``plan`` (an AblationPlan) to the designs the linked study answers, once: the report
    reads them back to fit each design on its runs."""
    with exclusive(storage, f"study:{linked.study_name}:claim"):
        known = list(
            optuna.load_study(study_name=linked.study_name, storage=storage).user_attrs.get(
                DESIGNS_ATTR
            )
            or []
        )
        if all(d.get("name") != plan.name for d in known):
            linked.set_user_attr(DESIGNS_ATTR, [*known, plan.record()])


def designs(linked: optuna.Study) -> list[dict[str, Any]]:
    """The designs recorded on the linked study, in the order they were first asked for."""
    return list(linked.user_attrs.get(DESIGNS_ATTR) or [])
