"""What a trial and a study record in storage: the one definition every writer and reader shares.

Trial user attrs (written by the objective as a trial runs, read by progress, the notes, the
pruners and the reports) and study user attrs (written once by the runner) are named here and
nowhere else. Readers take a :class:`TrialRecord` or a :class:`StudyRecord`, or a whole study as
one table (:func:`study.frame.trials_frame`). A record's field is named as the attr it reads.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from vitlab.metrics import EpochMetrics, best_index

# -- trial user attrs -------------------------------------------------------------------------
BASELINE = "baseline"  # True on the seed's recipe, the trial every effect is read against
CURVES = "curves"  # metric name -> one value per finished epoch (EpochMetrics' fields)
WORKER = "worker"  # hostname:pid of the process that ran the trial, written as it starts
SEED = "seed"
DEVICE = "device"
NUM_PARAMS = "num_params"
PRETRAINED = "pretrained"  # the resolved weights file (None: from scratch)
EPOCHS_PLANNED = "epochs_planned"
CLASS_COVERAGE = "class_coverage"
EPOCHS_RUN = "epochs_run"
SECONDS = "seconds"
IMAGES_PER_SECOND = "images_per_second"  # the mean of the per-epoch throughput
BEST_EPOCH = "best_epoch"
BEST = "best"  # the best epoch's metrics
BEST_PREFIX = "best_"  # flat copies of the headline numbers, as trials_dataframe() columns
PRUNE_REASON = "prune_reason"  # the stop decision's text
STOP_KIND = "stop_kind"  # the stop decision's kind: overfitting, floor, median, ...
STOPPED_EARLY = "stopped_early"
ENDED = "ended"  # how the trial ended, in one line
ERROR = "error"
ARTIFACT_ERROR = "artifact_error"
# The id of the trial's artifact PREDICTIONS_FILE: the best epoch's val labels and top-1 classes.
PREDICTIONS = "val_predictions_artifact"
PREDICTIONS_FILE = "val_predictions.npy"
# A confirmation run's one score on the test split, at the epoch chosen on val (``confirm``).
TEST_TOP1, TEST_TOP5, TEST_LOSS = "test_top1", "test_top5", "test_loss"
TEST_PREDICTIONS = "test_predictions_artifact"
TEST_PREDICTIONS_FILE = "test_predictions.npy"

# -- study user attrs -------------------------------------------------------------------------
DATASET_FINGERPRINT = "dataset_fingerprint"
DATA_SOURCE = "data_source"
SPLIT_SUMMARY = "split_summary"
SPACE = "space"  # the resolved space, as its YAML keys (see SPACE_BASELINE)
# The space's section of the baseline's values, in the YAML and in the SPACE attr.
SPACE_BASELINE = BASELINE
ROLES = "roles"
# The report's long-tail buckets, by train images per class: tail <= 10 < mid <= 100 < head
# (LVIS's rare / common / frequent; Gupta et al. 2019). A space's report.bucket_edges, in the
# SPACE attr's "report" section, replaces them.
DEFAULT_BUCKET_EDGES = (10, 100)
BASELINE_PARAMS = "baseline_params"  # the baseline's parameters (a trial's BASELINE is a flag)
OLD_BASELINE_PARAMS = BASELINE  # where studies run before BASELINE_PARAMS kept them: still read
TRAIN_SEED = "train_seed"
VERSIONS = "versions"
TRAIN_COUNTS = "train_counts"
CLASSES = "classes"
CLASS_COUNTS = "class_counts"  # images per class over every split, in the order of CLASSES
SPLIT_FILES = "split_files"  # {"train": path, "val": path}: the split's files (extra fields)
DATA_CONFIG = "data_config"  # the DataConfig the run split, as its fields (study.rebuild reads it)
# A linked study's attr: the study whose question its trials answer (``<study>:ablate``)
MEASURES = "measures"
REPORT = "report_artifact"  # the id of the study's current report artifact
PLOTLYJS = "plotlyjs_artifact"  # {"id": artifact id, "version": plotly.js version}
# -- study system attr ------------------------------------------------------------------------
NOTE_WRITTEN = "study:note_written"  # the study note `run` last wrote

# -- metric names: the curves' keys, which are EpochMetrics' fields -------------------------
EPOCH = "epoch"
TRAIN_LOSS = "train_loss"
TRAIN_TOP1 = "train_top1"
TRAIN_PROBE_LOSS = "train_probe_loss"
VAL_LOSS = "val_loss"
VAL_TOP1 = "val_top1"
GAP = "gap"
THROUGHPUT = "images_per_second"  # images/s of one epoch (the trial's IMAGES_PER_SECOND: mean)
METRICS = tuple(f.name for f in dataclasses.fields(EpochMetrics) if f.name != "per_class")
_unknown = {EPOCH, TRAIN_LOSS, TRAIN_TOP1, TRAIN_PROBE_LOSS, VAL_LOSS, VAL_TOP1, GAP, THROUGHPUT}
if _unknown - set(METRICS):  # a renamed field fails here, at import, not in a silent reader
    raise RuntimeError(f"EpochMetrics has no field {sorted(_unknown - set(METRICS))}")
HEADLINE = (VAL_TOP1, VAL_LOSS, TRAIN_TOP1, GAP)  # the best epoch's numbers, also as flat attrs

Curves = Mapping[str, Sequence[float]]


def best_key(metric: str) -> str:
    """The flat attr (and trials_frame column) of the best epoch's ``metric``."""
    return BEST_PREFIX + metric


def _best_position(curves: Curves) -> int | None:
    return best_index(curves.get(VAL_TOP1) or [], curves.get(VAL_LOSS))


def best_epoch(curves: Curves) -> int | None:
    """The best epoch's number, by the one rule (:func:`vitlab.metrics.best_index`)."""
    i = _best_position(curves)
    if i is None:
        return None
    epochs = curves.get(EPOCH) or []
    return int(epochs[i]) if i < len(epochs) else i + 1


def best_metrics(curves: Curves) -> dict[str, float]:
    """Every metric at the best epoch ({} when no epoch has a finite val top-1)."""
    i = _best_position(curves)
    return {} if i is None else {k: v[i] for k, v in curves.items() if i < len(v)}


def summary_attrs(curves: Curves, seconds: float) -> dict[str, Any]:
    """The trial's headline user attrs, from its curves so far (at least one epoch)."""
    epochs = len(curves[EPOCH])
    best = best_metrics(curves)
    return {
        EPOCHS_RUN: epochs,
        SECONDS: round(seconds, 3),
        IMAGES_PER_SECOND: sum(curves[THROUGHPUT]) / epochs,
        BEST_EPOCH: best.get(EPOCH),
        BEST: best,
        **{best_key(k): best.get(k) for k in HEADLINE},
    }


def this_worker() -> str:
    """The WORKER attr of trials this process runs: hostname:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def add_artifact_error(trial: optuna.Trial, message: str) -> None:
    """Record an artifact that could not be written, after any recorded before it (the
    predictions file and the dashboard view are written apart; neither hides the other)."""
    old = trial.user_attrs.get(ARTIFACT_ERROR)
    trial.set_user_attr(ARTIFACT_ERROR, f"{old}; {message}" if old else message)


def write_trial_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    """One storage write per attr (Optuna has no batch write for a running trial)."""
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


# Attrs read as they are stored: each is the TrialRecord field of that name.
_PLAIN = (EPOCHS_RUN, EPOCHS_PLANNED, SECONDS, IMAGES_PER_SECOND, NUM_PARAMS, SEED, DEVICE)
_PLAIN += (PRETRAINED, CLASS_COVERAGE, WORKER, STOP_KIND, PRUNE_REASON, ENDED, ERROR)
_PLAIN += (ARTIFACT_ERROR, PREDICTIONS)


@dataclass(frozen=True)
class TrialRecord:
    """One trial as stored: Optuna's own fields and our user attrs; a missing attr is None."""

    number: int = 0
    state: TrialState = TrialState.RUNNING
    value: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    baseline: bool = False
    curves: Curves = field(default_factory=dict)
    best_epoch: int | None = None
    best: Mapping[str, float] = field(default_factory=dict)  # every metric at the best epoch
    epochs_run: int | None = None
    epochs_planned: int | None = None
    seconds: float | None = None
    images_per_second: float | None = None
    num_params: int | None = None
    seed: int | None = None
    device: str | None = None
    pretrained: str | None = None
    class_coverage: float | None = None
    worker: str | None = None
    stop_kind: str | None = None
    prune_reason: str | None = None
    stopped_early: bool = False
    ended: str | None = None
    error: str | None = None
    artifact_error: str | None = None
    val_predictions_artifact: str | None = None  # PREDICTIONS: the id of its predictions file
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.number, int) or self.number < 0:
            raise ValueError(f"number must be an integer >= 0, got {self.number!r}")
        if not isinstance(self.state, TrialState):
            raise ValueError(f"state must be a TrialState, got {self.state!r}")

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], **trial: Any) -> TrialRecord:
        """The record of user attrs ``attrs``; ``trial`` gives Optuna's fields (number, ...).

        The best epoch is the one the objective recorded; a trial whose summary was never
        written (its worker killed) gets it from its curves, by the same rule.
        """
        curves = attrs.get(CURVES) or {}
        return cls(
            **trial,
            baseline=bool(attrs.get(BASELINE)),
            curves=curves,
            best_epoch=attrs.get(BEST_EPOCH, best_epoch(curves)),
            best=attrs.get(BEST) or best_metrics(curves),
            stopped_early=bool(attrs.get(STOPPED_EARLY)),
            **{key: attrs.get(key) for key in _PLAIN},
        )

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> TrialRecord:
        return cls.from_attrs(
            trial.user_attrs,
            number=trial.number,
            state=trial.state,
            value=trial.value,
            params=dict(trial.params),
            datetime_start=trial.datetime_start,
            datetime_complete=trial.datetime_complete,
        )

    @property
    def duration(self) -> timedelta | None:
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self.datetime_start


@dataclass(frozen=True)
class StudyRecord:
    """The study's user attrs: what a report, or a rerun with another seed, needs."""

    dataset_fingerprint: str | None = None  # None: no worker has recorded the study yet
    data_source: str | None = None
    split_summary: Mapping[str, Any] = field(default_factory=dict)
    space: Mapping[str, Any] = field(default_factory=dict)  # the resolved space
    roles: Mapping[str, str] = field(default_factory=dict)  # parameter -> its role
    baseline_params: Mapping[str, Any] = field(default_factory=dict)
    train_seed: int | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    train_counts: Sequence[int] = ()  # train images per class, in the order of ``classes``
    classes: Sequence[str] = ()
    class_counts: Sequence[int] = ()  # images per class over every split (test included)
    split_files: Mapping[str, str] = field(default_factory=dict)
    data_config: Mapping[str, Any] = field(default_factory=dict)  # {}: recorded before it was

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> StudyRecord:
        names = [f.name for f in dataclasses.fields(cls) if f.name != BASELINE_PARAMS]
        found = {name: attrs[name] for name in names if attrs.get(name) is not None}
        baseline = attrs.get(BASELINE_PARAMS, attrs.get(OLD_BASELINE_PARAMS))
        return cls(**found, **({BASELINE_PARAMS: baseline} if baseline is not None else {}))

    @classmethod
    def from_study(cls, study: optuna.Study) -> StudyRecord:
        return cls.from_attrs(study.user_attrs)

    def attrs(self) -> dict[str, Any]:
        """The user attrs to write, as JSON: the fingerprint first (see ``write``)."""
        return {
            DATASET_FINGERPRINT: self.dataset_fingerprint,
            DATA_SOURCE: self.data_source,
            SPLIT_SUMMARY: dict(self.split_summary),
            SPACE: dict(self.space),
            ROLES: dict(self.roles),
            BASELINE_PARAMS: dict(self.baseline_params),
            TRAIN_SEED: self.train_seed,
            VERSIONS: dict(self.versions),
            TRAIN_COUNTS: [int(c) for c in self.train_counts],
            CLASSES: list(self.classes),
            CLASS_COUNTS: [int(c) for c in self.class_counts],
            SPLIT_FILES: dict(self.split_files),
            DATA_CONFIG: dict(self.data_config),
        }

    def write(self, study: optuna.Study) -> None:
        """Write every attr; a study with a fingerprint is recorded, and is never written again."""
        for key, value in self.attrs().items():
            study.set_user_attr(key, value)
