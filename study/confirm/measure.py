"""A confirmation run's one look at the test split: after training, at the epoch chosen on val.

This module is the only code that scores ``Dataset.test``; the test-split guard
(tests/study/confirm/test_guard.py) proves that no other command reads a test image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

from study import predictions, records
from vitlab.dataset import Dataset
from vitlab.errors import UserError
from vitlab.train import Trainer

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore

__all__ = ["TEST_EPOCH", "score_test", "summarize_test"]

TEST_EPOCH = "test_epoch"  # the (1-based) epoch whose weights scored the test split


def summarize_test(dataset: Dataset) -> dict[str, int]:
    """The test split's size and class coverage (the page says where it is thin); UserError
    when it has no image."""
    if len(dataset.test) == 0:
        raise UserError(
            "the study's split has no test images (test_frac 0, or no --test file): there is "
            "nothing to confirm on; split with a test fraction and run the study again"
        )
    covered = len(np.unique(dataset.test.labels))
    return {
        "images": len(dataset.test),
        "test_classes": covered,
        "classes": dataset.num_classes,
        "thin_classes": dataset.num_classes - covered,
    }


def score_test(
    dataset: Dataset, store: ArtifactStore | None
) -> Callable[[optuna.Trial, Trainer], None]:
    """The objective's ``on_trained`` hook: score the test split once with the best epoch's
    weights, and keep the scores and the per-image predictions on the run's trial."""

    def score(trial: optuna.Trial, trainer: Trainer) -> None:
        best = trainer.best()
        assert best is not None  # a trained run has a best epoch
        scores = trainer.score_best(dataset.test)
        attrs: dict[str, Any] = {
            records.TEST_TOP1: scores.top1,
            records.TEST_TOP5: scores.top5,
            records.TEST_LOSS: scores.loss,
            TEST_EPOCH: best.epoch,
        }
        records.write_trial_attrs(trial, attrs)
        if store is not None:  # needed: the page's paired comparisons are image by image
            predictions.upload(
                trial,
                store,
                np.stack([scores.labels, scores.predicted]),
                attr=records.TEST_PREDICTIONS,
                file_name=records.TEST_PREDICTIONS_FILE,
            )

    return score
