"""What every report section reads: the trials frame, the study record, and the val predictions
of the few trials the page compares image by image. Built by :mod:`study.report.load` (or by a
test or benchmark, with no storage at all); no section reads storage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from study.records import StudyRecord

TOP_TRIALS = 5  # the best trials whose curves and predictions the page shows beside the baseline


@dataclass(frozen=True, eq=False)
class Predictions:
    """One trial's val predictions at its best epoch, image by image (see study.predictions)."""

    labels: np.ndarray  # int64 class index per val image
    predicted: np.ndarray  # int64 top-1 class per val image (-1: its own, dropped class)

    def __post_init__(self) -> None:
        if self.labels.shape != self.predicted.shape or self.labels.ndim != 1:
            raise ValueError(
                f"labels and predicted must be equal 1-d arrays, got {self.labels.shape} and "
                f"{self.predicted.shape}"
            )

    @classmethod
    def from_array(cls, array: np.ndarray) -> Predictions:
        """From the (2, n) labels/top-1 array of a predictions file."""
        return cls(labels=np.asarray(array[0]), predicted=np.asarray(array[1]))

    @property
    def correct(self) -> np.ndarray:
        """bool per val image: its top-1 is its label."""
        return self.predicted == self.labels

    @property
    def top1(self) -> float:
        return float(self.correct.mean()) if len(self.labels) else 0.0


@dataclass(frozen=True)
class AblationRuns:
    """The linked study ``<study>:ablate``: the designs asked for (``AblationPlan.record()``)
    and every finished run's val top-1 by its key."""

    designs: tuple[Mapping, ...] = ()
    values: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfirmConfig:
    """One configuration ``confirm`` reran: a search trial, ranked by the search's val top-1."""

    trial: int  # the search trial whose parameters it reruns
    search_val: float  # that trial's val top-1 in the search (the value it was selected on)
    baseline: bool  # the study's baseline trial (always confirmed, ranked or not)


@dataclass(frozen=True, eq=False)
class ConfirmRun:
    """One finished rerun: a configuration with one seed, scored on val (its best epoch, chosen
    by the search's rule) and on test once, at that epoch."""

    trial: int  # the configuration's search trial (ConfirmConfig.trial)
    seed: int
    val_top1: float
    test_top1: float
    best_epoch: int
    test: Predictions | None = None  # per test image, at that epoch (None: file not read)
    val: Predictions | None = None  # per val image, at that epoch (None: file not read)


@dataclass(frozen=True, eq=False)
class ConfirmRuns:
    """The linked study ``<study>:confirm``: the configurations asked for (the search's val
    order, best first; the baseline last when it is not among the top), the seeds each gets,
    the finished runs, and the test split's size."""

    configs: tuple[ConfirmConfig, ...] = ()
    seeds: tuple[int, ...] = ()
    runs: tuple[ConfirmRun, ...] = ()
    test_images: int = 0
    test_classes: int = 0  # classes with at least one test image
    classes: int = 0  # classes of the split
    thin_classes: int = 0  # classes too small for a test image under the split rule


@dataclass(frozen=True)
class AuditRun:
    """One stopped trial rerun to the full epoch budget by ``audit-pruner``, with its own
    parameters and seed and no pruner."""

    trial: int  # the audited (pruned or early-stopped) trial of the study
    value: float  # val top-1 at the best epoch of the full run (the search's rule)
    val_top1: tuple[float, ...]  # per epoch, 1..epochs
    seconds: float


@dataclass(frozen=True)
class AuditRuns:
    """The linked study ``<study>:audit``: the trials sampled (numbers) and the finished reruns."""

    sample: tuple[int, ...] = ()
    runs: tuple[AuditRun, ...] = ()


@dataclass(frozen=True, eq=False)
class ReportInputs:
    """Everything a section may read. ``predictions`` holds the trials of
    :func:`prediction_trials` whose file could be read; any other trial has none."""

    study_name: str
    frame: pd.DataFrame  # study.frame.trials_frame(study)
    study: StudyRecord = field(default_factory=StudyRecord)
    predictions: Mapping[int, Predictions] = field(default_factory=dict)  # by trial number
    group_by: str | None = None  # --group-by: the manifest field the long-tail groups use
    class_groups: Mapping[str, str] = field(default_factory=dict)  # class name -> its group
    ablation: AblationRuns | None = None  # None: no ablation has run for this study
    confirm: ConfirmRuns | None = None  # None: ``confirm`` has not run for this study
    audit: AuditRuns | None = None  # None: ``audit-pruner`` has not run for this study

    @property
    def val_images(self) -> int:
        """Val images of the split (0 when the study record has no split summary)."""
        return int(self.study.split_summary.get("images_per_split", {}).get("val", 0))

    @property
    def chance(self) -> float | None:
        """Val top-1 of a uniform guess: 1 / the number of classes (None: unknown)."""
        classes = len(self.study.classes) or self.study.split_summary.get("classes", 0)
        return 1 / classes if classes else None


def finished(frame: pd.DataFrame) -> pd.DataFrame:
    """The COMPLETE trials with a value: the ones every ranking is made of."""
    return frame[(frame["state"] == "COMPLETE") & frame["value"].notna()]


def baseline_row(frame: pd.DataFrame) -> pd.Series | None:
    """The finished baseline trial (the first, if a retry finished too), or None."""
    rows = finished(frame)
    rows = rows[rows["baseline"]]
    return None if rows.empty else rows.iloc[0]


def best_row(frame: pd.DataFrame) -> pd.Series | None:
    """The finished trial of highest value (ties: the earlier), or None."""
    rows = finished(frame)
    return None if rows.empty else rows.loc[rows["value"].idxmax()]


def prediction_trials(frame: pd.DataFrame) -> tuple[int, ...]:
    """The trials whose predictions the page reads: the baseline and the TOP_TRIALS best."""
    rows = finished(frame)
    top = rows.sort_values(["value", "number"], ascending=[False, True]).head(TOP_TRIALS)
    numbers = [int(n) for n in top["number"]]
    base = baseline_row(frame)
    if base is not None and int(base["number"]) not in numbers:
        numbers.insert(0, int(base["number"]))
    return tuple(numbers)


def noise_floor(top1: float, images: int) -> float:
    """One standard error of a val top-1 of ``top1`` on ``images`` images (binomial)."""
    if images <= 0:
        return math.nan
    return math.sqrt(max(top1 * (1 - top1), 0.0) / images)
