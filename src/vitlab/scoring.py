"""Scoring predictions: the loss, top-1, top-5 and per-class counts an evaluation reports.

A class the min-images filter dropped is never a correct answer: its images count as errors,
so accuracies of trials that drop different classes are measured on the same images and stay
comparable. ``top1_kept`` is the top-1 over the images of the classes trained on. ``predicted``
is each image's top-1 class, in the split's order, with one exception that keeps it consistent
with ``top1``: an image whose top-1 is its own class but a dropped one is given ``DROPPED`` (an
error). So ``(predicted == labels).mean() == top1`` exactly, which the reports' paired
comparisons and per-class buckets rely on. Pure tensor
arithmetic on the CPU, batch by batch, so the loop can score a split of any size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vitlab.metrics import PerClass

DROPPED = -1  # ``predicted`` of an image whose top-1 was its own, dropped class: an error


@dataclass(frozen=True)
class Scores:
    """One split's scores (an empty split scores 0 everywhere)."""

    loss: float  # mean plain cross-entropy (no smoothing)
    top1: float  # over every image; a dropped class's images count as errors
    top5: float
    top1_kept: float  # over the images of the kept classes only
    per_class: PerClass
    labels: np.ndarray  # int64 class index per image, in the split's order
    predicted: np.ndarray  # int64 top-1 class per image (DROPPED: its own, dropped class)


class Tally:
    """Running sums over batches of (logits, labels), for the classes in ``kept``."""

    def __init__(self, kept: torch.Tensor) -> None:
        if kept.dtype != torch.bool or kept.ndim != 1:
            raise ValueError(
                f"kept must be a 1-d bool tensor, got {kept.dtype} {tuple(kept.shape)}"
            )
        self.kept = kept
        n_classes = len(kept)
        self.loss = torch.zeros((), dtype=torch.float64)
        self.correct = torch.zeros(n_classes, dtype=torch.int64)
        self.correct5 = torch.zeros((), dtype=torch.int64)
        self.total = torch.zeros(n_classes, dtype=torch.int64)
        self.images = 0
        self.labels: list[torch.Tensor] = []
        self.predicted: list[torch.Tensor] = []

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Count one batch: float32 (n, classes) CPU logits and int64 (n,) class indices."""
        n_classes = len(self.kept)
        self.loss += F.cross_entropy(logits, labels, reduction="sum").double()
        top = logits.topk(min(5, n_classes), dim=1).indices
        kept = self.kept[labels]  # a dropped class is never a correct answer
        hit1 = (top[:, 0] == labels) & kept
        self.correct += torch.bincount(labels[hit1], minlength=n_classes)
        self.correct5 += ((top == labels[:, None]).any(dim=1) & kept).sum()
        self.total += torch.bincount(labels, minlength=n_classes)
        self.images += len(labels)
        own_dropped = (top[:, 0] == labels) & ~kept
        self.labels.append(labels)
        self.predicted.append(torch.where(own_dropped, DROPPED, top[:, 0]))

    def scores(self) -> Scores:
        n = max(self.images, 1)
        n_kept = int(self.total[self.kept].sum())
        return Scores(
            loss=float(self.loss) / n,
            top1=float(self.correct.sum()) / n,
            top5=float(self.correct5) / n,
            top1_kept=float(self.correct[self.kept].sum()) / n_kept if n_kept else 0.0,
            per_class=PerClass(self.correct.numpy(), self.total.numpy()),
            labels=_joined(self.labels),
            predicted=_joined(self.predicted),
        )


def _joined(batches: list[torch.Tensor]) -> np.ndarray:
    return torch.cat(batches).numpy() if batches else np.zeros(0, dtype=np.int64)
