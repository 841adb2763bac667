"""The failure classifier on hand-copied logs (the seed's, a demo baseline's) and on a real tiny
training run whose val labels are permuted."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path

import pytest

from study.analysis.failure import (
    CHANCE_HEADLINE,
    Diagnosis,
    EpochLog,
    chance_limit,
    classify,
    epochs_from_curves,
    pct,
)
from vitlab.config import DataConfig, TrainConfig
from vitlab.manifest import read_manifest
from vitlab.split import stratified_split
from vitlab.train import Trainer

# shared/seed-training-analysis.md, "Métricas Finales": epoch, train loss, train top-1, val
# loss, val top-1, val top-5 (top-1 in percent there, fractions here).
SEED = (
    (1, 7.53, 0.035, 10.32, 0.0000, 0.0008),
    (5, 2.15, 0.838, 11.38, 0.0002, 0.0007),
    (10, 1.39, 0.982, 11.52, 0.0003, 0.0009),
    (15, 1.31, 0.986, 11.22, 0.0003, 0.0008),
)
SEED_HEAD = 5_578  # the seed model's head: its random split's train classes
SEED_CLASSES = 5_914  # the dataset's classes
SEED_VAL_IMAGES = 12_639


def seed_epochs(train_top1: bool = True, top5: bool = True) -> list[EpochLog]:
    return [
        EpochLog(e, tl, vl, v1, t1 if train_top1 else None, v5 if top5 else None)
        for e, tl, t1, vl, v1, v5 in SEED
    ]


# A real demo baseline run, epochs 1..15 (200 classes).
DEMO_VAL_LOSS = (3.55, 3.05, 2.84, 2.76, 2.74, 2.76, 2.83, 2.90, 2.98, 3.05, 3.11, 3.16, 3.19)
DEMO_VAL_LOSS += (3.21, 3.22)
DEMO_VAL_TOP1 = (0.29, 0.36, 0.40, 0.42, 0.43, 0.44, 0.43, 0.43, 0.43, 0.42, 0.42, 0.42, 0.42)
DEMO_VAL_TOP1 += (0.42, 0.42)
DEMO_TRAIN_TOP1 = (0.35, 0.50, 0.62, 0.72, 0.80, 0.87, 0.92, 0.95, 0.97, 0.98, 0.99, 0.99, 0.99)
DEMO_TRAIN_TOP1 += (0.99, 0.99)
DEMO_TRAIN_LOSS = (3.4, 2.6, 2.0, 1.6, 1.3, 1.1, 0.95, 0.85, 0.78, 0.74, 0.71, 0.69, 0.68)
DEMO_TRAIN_LOSS += (0.67, 0.67)


def demo_epochs(n: int = 15) -> list[EpochLog]:
    return [
        EpochLog(i + 1, DEMO_TRAIN_LOSS[i], DEMO_VAL_LOSS[i], DEMO_VAL_TOP1[i], DEMO_TRAIN_TOP1[i])
        for i in range(n)
    ]


def test_the_seeds_run_is_val_at_chance_with_its_numbers():
    d = classify(seed_epochs(), SEED_HEAD, SEED_VAL_IMAGES)
    assert d == Diagnosis(
        "val_at_chance",
        CHANCE_HEADLINE,
        (
            "train top-1 3.5 % at epoch 1 rising to 98.6 % at epoch 15",
            "val top-1 at most 0.03 % over 4 epochs; chance 1/5,578 = 0.018 %",
            "val top-5 at most 0.09 %; chance 5/5,578 = 0.09 %",
            "val loss 10.32 at epoch 1, above the uniform-guess loss ln(5,578) = 8.63",
        ),
    )
    assert d.headline.startswith(
        "val at chance: check that val labels map to the same class indices as train"
    )


@pytest.mark.parametrize(
    ("classes", "val_images", "train_top1", "top5"),
    [
        (SEED_HEAD, None, True, True),
        (SEED_CLASSES, SEED_VAL_IMAGES, True, False),
        (SEED_CLASSES, None, False, False),  # timm's summary.csv: no train top-1, no top-5 here
    ],
)
def test_the_seeds_run_is_val_at_chance_however_it_is_counted(
    classes, val_images, train_top1, top5
):
    d = classify(seed_epochs(train_top1, top5), classes, val_images)
    assert d.kind == "val_at_chance" and d.headline == CHANCE_HEADLINE
    assert f"ln({classes:,}) = {math.log(classes):.2f}" in d.evidence[-1]


# A real demo baseline (`python -m study run`, trial 0), stopped at epoch 11 by the pruner's
# val-loss rule: epoch, train loss, train top-1, val loss, val top-1.
DEMO_RUN = (
    (1, 4.563, 0.387, 3.790, 0.304),
    (2, 3.315, 0.441, 3.532, 0.340),
    (3, 3.034, 0.455, 3.448, 0.359),
    (4, 2.846, 0.545, 3.367, 0.380),
    (5, 2.719, 0.523, 3.369, 0.387),
    (6, 2.577, 0.605, 3.311, 0.411),
    (7, 2.465, 0.607, 3.374, 0.383),
    (8, 2.339, 0.662, 3.325, 0.414),
    (9, 2.220, 0.701, 3.290, 0.439),
    (10, 2.103, 0.699, 3.371, 0.423),
    (11, 1.988, 0.744, 3.373, 0.457),
)


def demo_logs(rows: tuple[tuple[int, float, float, float, float], ...]) -> list[EpochLog]:
    return [
        EpochLog(epoch=e, train_loss=tl, val_loss=vl, val_top1=v1, train_top1=t1)
        for e, tl, t1, vl, v1 in rows
    ]


def test_a_real_demo_baseline_run_is_overfitting():
    d = classify(demo_logs(DEMO_RUN), 199, 326)
    assert d.kind == "overfitting", d
    assert d.evidence[0] == "val loss lowest 3.29 at epoch 9, 3.37 at epoch 11 (+3 %)"


# The same recipe on one thread (`OMP_NUM_THREADS=1 python -m study run`: another float
# reduction order, as on another machine): the pruner stops it at epoch 8 with val loss 1 %
# above its minimum; the widened gap decides.
DEMO_RUN_ONE_THREAD = (
    (1, 4.563, 0.387, 3.790, 0.304),
    (2, 3.315, 0.443, 3.532, 0.340),
    (3, 3.033, 0.461, 3.462, 0.359),
    (4, 2.852, 0.525, 3.349, 0.377),
    (5, 2.743, 0.535, 3.333, 0.374),
    (6, 2.584, 0.594, 3.278, 0.420),
    (7, 2.468, 0.625, 3.321, 0.411),
    (8, 2.340, 0.691, 3.311, 0.439),
)


def test_a_demo_baseline_stopped_before_val_loss_rose_2_percent_is_overfitting():
    epochs = demo_logs(DEMO_RUN_ONE_THREAD)
    d = classify(epochs, 199, 326)
    assert d.kind == "overfitting", d
    assert d.headline.startswith("overfitting: val loss stopped falling after epoch 6")
    assert d.evidence[-1] == (
        "train - val top-1 gap 8.3 points at epoch 1, 17.4 at epoch 6, 25.2 at epoch 8"
    )
    # Without train top-1 there is no gap: a 1 % rise alone is not called overfitting.
    no_gap = [dataclasses.replace(e, train_top1=None) for e in epochs]
    assert classify(no_gap, 199, 326).kind == "healthy"


def test_a_demo_baseline_is_overfitting():
    d = classify(demo_epochs(), 200, 326)
    assert d == Diagnosis(
        "overfitting",
        "overfitting: val loss turned up after epoch 5 while train loss kept falling; "
        "stop earlier or regularize more",
        (
            "val loss lowest 2.74 at epoch 5, 3.22 at epoch 15 (+18 %)",
            "train loss fell from 1.30 to 0.67 over the same epochs",
            "val top-1 best 44.0 % at epoch 6, 88x chance 1/200 = 0.5 %",
            "train - val top-1 gap 6.0 points at epoch 1, 37.0 at epoch 5, 57.0 at epoch 15",
        ),
    )


def test_the_same_run_stopped_at_its_best_epoch_is_healthy():
    d = classify(demo_epochs(5), 200, 326)
    assert d.kind == "healthy"
    assert d.headline == "healthy: val top-1 still best at the last epoch (5); more epochs may help"


def overfit_at(val_top1: float) -> list[EpochLog]:
    """Train learns, val loss turns up: only val top-1 decides overfitting vs a label problem."""
    val_loss = (4.0, 3.6, 3.5, 3.7, 3.9, 4.1)
    train = (0.2, 0.5, 0.7, 0.85, 0.95, 0.99)
    return [
        EpochLog(i + 1, 4.0 - 0.6 * i, val_loss[i], val_top1, train[i]) for i in range(len(train))
    ]


@pytest.mark.parametrize(
    ("val_top1", "kind"),
    [
        (0.30, "overfitting"),
        (0.02, "overfitting"),  # 4x chance of 1/200: above the limit of 3x
        (0.014, "val_at_chance"),
        (0.0, "val_at_chance"),
    ],
)
def test_overfitting_needs_val_top1_above_chance(val_top1, kind):
    assert classify(overfit_at(val_top1), 200).kind == kind


def test_underfitting_train_low_and_both_losses_high():
    epochs = [EpochLog(e, 5.0 - 0.1 * e, 5.1 - 0.1 * e, 0.03 * e, 0.04 * e) for e in (1, 2, 3, 4)]
    assert classify(epochs, 200) == Diagnosis(
        "underfitting",
        "underfitting: train top-1 low and both losses high; train longer or regularize less",
        (
            "train top-1 at most 16.0 %",
            "train loss at least 4.60 and val loss at least 4.70; uniform-guess loss "
            "ln(200) = 5.30",
        ),
    )


def test_nothing_learned_at_all_is_underfitting_not_a_label_problem():
    epochs = [EpochLog(e, 5.3, 5.3, 0.005, 0.006) for e in (1, 2, 3)]
    assert classify(epochs, 200).kind == "underfitting"


@pytest.mark.parametrize(
    ("epochs", "kind"),
    [
        ([], "no_epochs"),
        ([EpochLog(1, math.nan, math.nan, math.nan)], "no_epochs"),
        ([EpochLog(1, 2.0, 2.1, 0.4)], "healthy"),  # one epoch: nothing turned up
        # a NaN epoch is skipped, not taken as a minimum
        ([EpochLog(1, 2.0, 2.1, 0.4), EpochLog(2, math.nan, math.nan, math.nan)], "healthy"),
    ],
)
def test_edge_cases(epochs, kind):
    assert classify(epochs, 200).kind == kind


def test_classes_must_be_at_least_two():
    with pytest.raises(ValueError, match="classes must be >= 2"):
        classify(demo_epochs(), 1)


@pytest.mark.parametrize(
    ("classes", "val_images", "limit"),
    [
        (200, None, 3 / 200),
        (200, 326, 1 / 200 + 3 * math.sqrt((1 / 200) * (199 / 200) / 326)),  # noise is wider
        (5_578, 12_639, 3 / 5_578),  # 3 SE is below 3x chance here
        (10, None, 0.15),  # 3x chance would be 30 %: capped at 5 points above chance
        (2, None, 0.55),
    ],
)
def test_chance_limit(classes, val_images, limit):
    assert chance_limit(classes, val_images) == pytest.approx(limit)


@pytest.mark.parametrize(
    ("x", "text"),
    [(0.0, "0.00 %"), (0.0003, "0.03 %"), (1 / 5578, "0.018 %"), (0.035, "3.5 %"), (1, "100.0 %")],
)
def test_pct(x, text):
    assert pct(x) == text


def test_epochs_from_curves():
    curves = {
        "epoch": [1, 2],
        "train_loss": [2.0, 1.0],
        "val_loss": [2.5, 2.4],
        "val_top1": [0.3, 0.4],
        "train_top1": [0.5, 0.7],
        "val_top5": [0.6],
    }
    assert epochs_from_curves(curves) == (
        EpochLog(1, 2.0, 2.5, 0.3, 0.5, 0.6),
        EpochLog(2, 1.0, 2.4, 0.4, 0.7, None),
    )
    assert epochs_from_curves({"epoch": [1], "val_top1": [0.3]}) == ()


# -- a real tiny training run ------------------------------------------------------------------


def derangement(classes: list[str], seed: int) -> dict[str, str]:
    """Each class to another one: every val label points at a class it is not."""
    rng = random.Random(seed)
    while True:
        shuffled = classes[:]
        rng.shuffle(shuffled)
        if all(a != b for a, b in zip(classes, shuffled, strict=True)):
            return dict(zip(classes, shuffled, strict=True))


def write_split(tmp_path: Path, manifest: Path, permute: bool) -> tuple[str, str]:
    """The manifest's stratified split as train/val files, val labels permuted if asked."""
    split = stratified_split(read_manifest(manifest).records)
    classes = sorted({r.label for r in split.train})
    mapping = derangement(classes, seed=0) if permute else {c: c for c in classes}
    paths = []
    for name, part, labels in (("train", split.train, None), ("val", split.val, mapping)):
        path = tmp_path / f"{name}.jsonl"
        lines = [
            json.dumps({"path": str(r.path), "label": (labels or {}).get(r.label, r.label)})
            for r in part
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(str(path))
    return paths[0], paths[1]


def train_curves(tiny_config: TrainConfig, tmp_path: Path, permute: bool) -> dict[str, list]:
    train, val = write_split(tmp_path, Path(str(tiny_config.data.manifest)), permute)
    config = dataclasses.replace(
        tiny_config,
        data=DataConfig(train=train, val=val, cache_root=tiny_config.data.cache_root),
        epochs=12,
        lr=5e-3,
    )
    trainer = Trainer(config, progress=False)
    history = [m.as_dict() for m in trainer.fit()]
    curves = {k: [h[k] for h in history] for k in history[0]}
    curves["val_images"] = [len(trainer.dataset.val)]
    curves["classes"] = [trainer.dataset.num_classes]
    return curves


@pytest.mark.parametrize(("permute", "at_chance"), [(True, True), (False, False)])
def test_a_real_run_with_permuted_val_labels_is_val_at_chance(
    tiny_config, tmp_path, permute, at_chance
):
    curves = train_curves(tiny_config, tmp_path, permute)
    classes, val_images = curves.pop("classes")[0], curves.pop("val_images")[0]
    d = classify(epochs_from_curves(curves), classes, val_images)
    # The same run with the true val labels learns: the permutation is what the classifier sees.
    assert (d.kind == "val_at_chance") is at_chance, d
    if at_chance:
        assert d.headline == CHANCE_HEADLINE
        assert max(curves["train_top1"]) > 2 * chance_limit(classes, val_images)
