"""The min-images filter removes classes from training only (the path Trainer takes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vitlab.config import DataConfig
from vitlab.dataset import Dataset, load_dataset
from vitlab.filter import min_images_filter

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


@pytest.fixture(scope="module")
def counts_dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """A real dataset of COUNTS images per class: PNG files, a JSONL manifest, an image cache."""
    root = tmp_path_factory.mktemp("counts")
    lines = []
    for c, n in COUNTS.items():
        (root / c).mkdir()
        for i in range(n):
            Image.new("RGB", (20, 20), (10 * i, 40, 90)).save(root / c / f"{i}.png")
            lines.append(json.dumps({"path": f"{c}/{i}.png", "label": c}))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    data = DataConfig(manifest=str(root / "manifest.jsonl"), cache_root=str(root / "cache"))
    return load_dataset(data, image_size=16, progress=False, workers=0)


def names(dataset: Dataset, labels: np.ndarray) -> set[str]:
    return {dataset.classes[i] for i in labels}


# The split keeps 1, 1, 2, 4 and 8 train images of one, two, three, five and ten.
@pytest.mark.parametrize(
    ("k", "kept", "train_images"),
    [
        (1, {"one", "two", "three", "five", "ten"}, 16),
        (2, {"two", "three", "five", "ten"}, 15),
        (3, {"three", "five", "ten"}, 14),
        # "five" has 4 train images but 5 in the dataset: k = 5 keeps it.
        (5, {"five", "ten"}, 4 + 8),
        (10, {"ten"}, 8),
        (11, set(), 0),
    ],
)
def test_training_keeps_every_train_image_of_the_kept_classes_only(
    counts_dataset, k, kept, train_images
):
    """Dataset.kept_train is what Trainer trains on; the counts are over the whole dataset."""
    dataset = counts_dataset
    assert sum(dataset.classes[i] == "five" for i in dataset.train.labels) == 4
    val_rows = dataset.val.rows.copy()
    part = dataset.kept_train(dataset.class_filter(k))
    assert names(dataset, part.labels) == kept and len(part) == train_images
    # Every train image of a kept class, in the train part's order: nothing else is dropped.
    of_kept = np.isin(dataset.train.labels, [dataset.classes.index(c) for c in kept])
    assert np.array_equal(part.rows, dataset.train.rows[of_kept])
    assert np.array_equal(part.labels, dataset.train.labels[of_kept])
    # The filter has no say over evaluation: val keeps the dropped classes' images.
    assert names(dataset, dataset.val.labels) == {"two", "three", "five", "ten"}
    assert np.array_equal(dataset.val.rows, val_rows)
