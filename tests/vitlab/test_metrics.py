"""The best-epoch rule, the one every reader of a run shares."""

import math

import pytest

from vitlab.metrics import best_index

NAN = math.nan


@pytest.mark.parametrize(
    ("val_top1", "val_loss", "best"),
    [
        ([0.1, 0.3, 0.2], [2.0, 1.0, 1.5], 1),  # highest val top-1
        ([0.3, 0.3], [1.2, 1.0], 1),  # a tie goes to the lower val loss
        ([0.3, 0.3], [1.0, 1.0], 0),  # then to the earlier epoch
        ([NAN, 0.1], [NAN, 2.0], 1),  # a NaN val top-1 is never best
        ([0.3, 0.3], [NAN, 1.0], 1),  # a NaN loss loses a tie
        ([0.2, 0.4], None, 1),  # without losses: val top-1, then the earlier epoch
        ([NAN], [1.0], None),
        ([], [], None),
    ],
)
def test_best_index(val_top1, val_loss, best):
    assert best_index(val_top1, val_loss) == best
