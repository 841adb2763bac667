"""Scoring: top-1/top-5/per-class counts where a dropped class is never a correct answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vitlab.scoring import DROPPED, Tally

CLASSES = 6


def one_hot_logits(predicted: list[list[int]]) -> torch.Tensor:
    """Logits whose ranking per image is the given list of classes, best first."""
    logits = torch.zeros(len(predicted), CLASSES)
    for row, ranking in enumerate(predicted):
        for rank, c in enumerate(ranking):
            logits[row, c] = 10.0 - rank
    return logits


# Two right, one right at rank 2, one right at rank 6 (outside the top 5).
LABELS, RANKINGS = [0, 1, 2, 3], [[0], [1], [5, 2], [5, 4, 2, 1, 0, 3]]


@pytest.mark.parametrize(
    ("kept", "labels", "rankings", "top1", "top5", "top1_kept", "correct"),
    [
        # every class kept
        ([True] * 6, LABELS, RANKINGS, 2 / 4, 3 / 4, 2 / 4, [1, 1, 0, 0, 0, 0]),
        # class 1 dropped: its right answer is an error, in top-1 and top-5 alike
        (
            [True, False, True, True, True, True],
            LABELS,
            RANKINGS,
            1 / 4,
            2 / 4,
            1 / 3,
            [1, 0, 0, 0, 0, 0],
        ),
        # only dropped classes' images: nothing kept to score on
        ([False, True, True, True, True, True], [0, 0], [[0], [0]], 0.0, 0.0, 0.0, [0] * 6),
    ],
    ids=["all kept", "one dropped", "only dropped images"],
)
def test_scores_table(kept, labels, rankings, top1, top5, top1_kept, correct):
    tally = Tally(torch.tensor(kept))
    logits, y = one_hot_logits(rankings), torch.tensor(labels)
    # Two batches score like one: the loop may cut a split anywhere.
    tally.add(logits[:1], y[:1])
    tally.add(logits[1:], y[1:])
    s = tally.scores()
    assert (s.top1, s.top5, s.top1_kept) == pytest.approx((top1, top5, top1_kept))
    assert s.per_class.correct.tolist() == correct
    assert s.per_class.total.tolist() == torch.bincount(y, minlength=CLASSES).tolist()
    assert s.loss == pytest.approx(F.cross_entropy(logits, y).item())
    # The predictions agree with top-1 image by image, in the split's order.
    assert s.labels.tolist() == labels
    assert (s.predicted == s.labels).mean() == pytest.approx(top1)
    hits = s.predicted == s.labels
    assert np.bincount(s.labels[hits], minlength=CLASSES).tolist() == correct


def test_predicted_marks_a_dropped_class_hit_as_dropped():
    """A top-1 that is the image's own class, but a dropped one, is an error: DROPPED."""
    kept = torch.tensor([True, False, True, True, True, True])
    tally = Tally(kept)
    tally.add(one_hot_logits([[1], [1], [2]]), torch.tensor([1, 0, 2]))
    s = tally.scores()
    assert s.predicted.tolist() == [DROPPED, 1, 2]
    assert s.top1 == pytest.approx(1 / 3)


def test_an_empty_split_scores_zero():
    s = Tally(torch.ones(CLASSES, dtype=torch.bool)).scores()
    assert (s.loss, s.top1, s.top5, s.top1_kept) == (0.0, 0.0, 0.0, 0.0)
    assert s.per_class.total.sum() == 0 and math.isfinite(s.loss)


@pytest.mark.parametrize("kept", [torch.ones(3), torch.ones(2, 3, dtype=torch.bool)])
def test_kept_must_be_a_bool_vector(kept):
    with pytest.raises(ValueError, match=r"kept must be a 1-d bool tensor, got torch\.\w+ \("):
        Tally(kept)
