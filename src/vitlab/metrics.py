"""What one epoch measures (:class:`EpochMetrics`), and which epoch of a run is its best.

The best-epoch rule lives here once: the trainer keeps that epoch's checkpoint, and the study
layer scores a trial, draws its curves and reads its record by the same rule.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PerClass:
    """Val correct/total per class index at one epoch (cheap even with 6,000 classes)."""

    correct: np.ndarray
    total: np.ndarray


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # 1-based
    train_loss: float  # mean training loss on augmented batches (with smoothing/mixup)
    train_top1: float  # un-augmented, eval mode, fixed train subset of the kept classes
    train_probe_loss: float  # plain cross-entropy on that subset
    val_loss: float  # plain cross-entropy (no smoothing), so trials compare honestly
    val_top1: float  # all val images; a dropped class's images count as errors
    val_top5: float
    val_top1_kept: float  # val images of the classes the trial trained on
    class_coverage: float  # fraction of the dataset's classes trained on
    gap: float  # train_top1 - val_top1_kept: generalisation on the same classes
    lr: float  # learning rate at the end of the epoch
    epoch_seconds: float
    images_per_second: float  # training throughput (train phase only)
    per_class: PerClass | None = field(default=None, compare=False, repr=False)

    TIMING_FIELDS = ("epoch_seconds", "images_per_second")

    def as_dict(self) -> dict[str, float | int]:
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "per_class"
        }


def best_index(val_top1: Sequence[float], val_loss: Sequence[float] | None = None) -> int | None:
    """The index of the best epoch: highest val top-1, ties to the lower val loss, then to the
    earlier epoch. A non-finite val top-1 is never best; None when no epoch has a finite one."""
    losses = list(val_loss) if val_loss is not None else [0.0] * len(val_top1)
    scored = [
        (float(v), -float(lo) if math.isfinite(float(lo)) else -math.inf, -i)
        for i, (v, lo) in enumerate(zip(val_top1, losses, strict=False))
        if v is not None and math.isfinite(float(v))
    ]
    return -max(scored)[2] if scored else None
