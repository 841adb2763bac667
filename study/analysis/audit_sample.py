"""Which stopped trials the pruner audit reruns, how long that takes, and what pruning saved.

A stopped trial is one :func:`study.analysis.pruner_bias.stopped_mask` marks (PRUNED, or
stopped early for overfitting); its decision kind is its ``stop_kind`` (NO_KIND when none was
recorded). Seconds per epoch are a trial's ``seconds / epochs_run``; where unknown, the median
of the study's trials that ran.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from study import records
from study.analysis.pruner_bias import NO_KIND, stopped_mask


@dataclass(frozen=True)
class Sampled:
    trial: int
    kind: str  # its stop_kind (NO_KIND when none was recorded)
    epochs: int  # the full budget it is rerun to: its epochs_planned (0: unknown)


@dataclass(frozen=True)
class Compute:
    saved_seconds: float  # Σ (epochs_planned - epochs_run) × seconds per epoch, stopped trials
    spent_seconds: float  # Σ seconds of every trial
    counted: int  # stopped trials counted
    unknown: int  # stopped trials whose planned or run epochs are unknown (not counted)


def stop_kinds(rows: pd.DataFrame) -> pd.Series:
    """Each row's decision kind, NO_KIND where none was recorded."""
    return rows["stop_kind"].astype("object").where(rows["stop_kind"].notna(), NO_KIND)


def floats(column: pd.Series) -> np.ndarray:
    """A numeric (nullable) column as floats, NaN where missing."""
    return column.to_numpy(dtype=float, na_value=np.nan)


def _allocation(sizes: Mapping[str, int], n: int) -> dict[str, int]:
    """n draws over kinds of more than n trials in all: one each (the largest kinds first when
    there are more kinds than n), the rest by largest remainder, in proportion to what each
    kind has left after its first."""
    kinds = sorted(sizes, key=lambda k: (-sizes[k], k))
    if len(kinds) >= n:
        return {k: int(i < n) for i, k in enumerate(kinds)}
    rest, total = n - len(kinds), sum(sizes.values()) - len(kinds)
    # integer arithmetic: a quota of exactly 3 must not floor to 2
    share = {k: divmod(rest * (sizes[k] - 1), total) for k in kinds}
    alloc = {k: 1 + share[k][0] for k in kinds}
    left = n - sum(alloc.values())
    for k in sorted(kinds, key=lambda k: (-share[k][1], -sizes[k], k))[:left]:
        alloc[k] += 1
    return alloc


def _budget(rows: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """Each row's full epoch budget: its epochs_planned, else the study's largest (0 when no
    trial recorded one: the epochs a stopped trial ran are not its budget)."""
    planned = floats(rows[records.EPOCHS_PLANNED])
    known = floats(frame[records.EPOCHS_PLANNED])
    fallback = np.nanmax(known) if np.isfinite(known).any() else np.nan
    budget = np.where(np.isfinite(planned), planned, fallback)
    return np.nan_to_num(budget, nan=0.0).astype(int)


def audit_sample(frame: pd.DataFrame, n: int, seed: int = 0) -> tuple[Sampled, ...]:
    """The stopped trials to rerun: all when there are at most ``n``, else ``n`` stratified by
    decision kind (see :func:`_allocation`), drawn within a kind by ``default_rng(seed)``;
    by trial number."""
    if n < 1:
        raise ValueError(f"the sample size n must be >= 1, got {n!r}")
    rows = frame[stopped_mask(frame).to_numpy(dtype=bool)]
    kinds = stop_kinds(rows).to_numpy()
    numbers = rows["number"].to_numpy(dtype=int)
    keep = np.ones(len(rows), dtype=bool)
    if len(rows) > n:
        keep[:] = False
        sizes = dict(zip(*np.unique(kinds, return_counts=True), strict=True))
        rng = np.random.default_rng(seed)
        for kind, draws in sorted(_allocation(sizes, n).items()):
            index = np.flatnonzero(kinds == kind)
            index = index[np.argsort(numbers[index], kind="stable")]
            keep[rng.choice(index, size=draws, replace=False)] = True
    budget = _budget(rows, frame)
    found = [Sampled(int(numbers[i]), str(kinds[i]), int(budget[i])) for i in np.flatnonzero(keep)]
    return tuple(sorted(found, key=lambda s: s.trial))


def _seconds_per_epoch(frame: pd.DataFrame) -> np.ndarray:
    """Each trial's seconds / epochs_run (NaN when unknown)."""
    seconds, epochs = floats(frame[records.SECONDS]), floats(frame[records.EPOCHS_RUN])
    with np.errstate(divide="ignore", invalid="ignore"):
        per = seconds / epochs
    return np.where((epochs > 0) & np.isfinite(per) & (per >= 0), per, np.nan)


def _median(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None


def estimated_seconds(frame: pd.DataFrame, sample: Sequence[Sampled]) -> float | None:
    """Σ epochs of the sample × the median seconds per epoch of the trials that ran (None when
    either is unknown)."""
    median = _median(_seconds_per_epoch(frame))
    if median is None or any(s.epochs <= 0 for s in sample):
        return None
    return sum(s.epochs for s in sample) * median


def compute_saved(frame: pd.DataFrame) -> Compute:
    stopped = stopped_mask(frame).to_numpy(dtype=bool)
    per = _seconds_per_epoch(frame)
    median = _median(per)
    left = floats(frame[records.EPOCHS_PLANNED]) - floats(frame[records.EPOCHS_RUN])
    per = np.where(np.isfinite(per), per, np.nan if median is None else median)
    saved = np.clip(left, 0, None) * per
    known = stopped & np.isfinite(saved)
    return Compute(
        saved_seconds=float(saved[known].sum()),
        spent_seconds=float(np.nansum(floats(frame[records.SECONDS]))),
        counted=int(known.sum()),
        unknown=int((stopped & ~known).sum()),
    )
