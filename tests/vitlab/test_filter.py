"""The min-images filter removes classes from training only."""

from __future__ import annotations

import pytest

from vitlab.filter import filter_train, min_images_filter
from vitlab.manifest import Record
from vitlab.split import stratified_split

COUNTS = {"one": 1, "two": 2, "three": 3, "five": 5, "ten": 10}


@pytest.mark.parametrize(
    ("k", "kept", "coverage"),
    [
        (1, {"one", "two", "three", "five", "ten"}, 1.0),
        (2, {"two", "three", "five", "ten"}, 0.8),
        (3, {"three", "five", "ten"}, 0.6),
        (5, {"five", "ten"}, 0.4),
        (10, {"ten"}, 0.2),
        (11, set(), 0.0),
    ],
)
def test_min_images_table(k, kept, coverage):
    f = min_images_filter(COUNTS, k)
    assert f.kept == kept
    assert f.dropped == set(COUNTS) - kept
    assert f.coverage == pytest.approx(coverage)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "5"])
def test_bad_min_images_names_the_value(k):
    with pytest.raises(ValueError, match=repr(k).replace(".", r"\.")):
        min_images_filter(COUNTS, k)


def test_counts_are_over_the_whole_dataset_and_val_is_untouched():
    records = [
        Record(path=f"/d/{c}/{i}", label=c, key=f"{c}/{i}")
        for c, n in COUNTS.items()
        for i in range(n)
    ]
    split = stratified_split(records)
    # "five" has 4 train images but 5 in the dataset: k = 5 keeps it.
    assert sum(r.label == "five" for r in split.train) == 4
    f = min_images_filter(split.class_counts(), 5)
    train = filter_train(split.train, f)
    assert {r.label for r in train} == {"five", "ten"}
    assert len(train) == 4 + 8
    # The filter has no say over evaluation: the split itself is unchanged.
    assert {r.label for r in split.val} == {"two", "three", "five", "ten"}
