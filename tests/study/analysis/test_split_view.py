"""The split table, the random-split counterfactual, and the trials by state and compute."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from study import records
from study.analysis.planted import Planted, planted_inputs
from study.analysis.split_view import (
    RandomSplit,
    SplitTable,
    draw_split,
    get_random_split,
    get_split_table,
    random_split_sizes,
)
from study.analysis.trial_states import TrialStates, draw_trial_states, get_trial_states
from study.frame import trials_frame
from vitlab.manifest import Record
from vitlab.split import stratified_split, summarize

SUMMARY: dict[str, Any] = {
    "classes": 4,
    "images": 14,
    "classes_per_split": {"train": 4, "val": 2, "test": 1},
    "images_per_split": {"train": 11, "val": 2, "test": 1},
    "val_train_overlap": 2,
    "classes_only_in_val": 0,
    "classes_only_in_test": 0,
    "classes_with_1_image": 2,
    "classes_with_2_images": 1,
    "classes_with_3plus_images": 1,
    "singleton_fraction": 0.5,
    "train_singleton_fraction": 0.5,
    "mean_images_per_class": {"train": 2.75, "val": 1.0, "test": 1.0},
}


def test_split_table_reads_the_seed_analysis_summary():
    assert get_split_table(SUMMARY) == SplitTable(
        classes=(4, 2, 1),
        images=(11, 2, 1),
        mean_images=(2.75, 1.0, 1.0),
        total_classes=4,
        total_images=14,
        val_train_overlap=2,
        classes_only_in_val=0,
        train_never_validated=2,
        classes_by_size=(2, 1, 1),
        singleton_fraction=0.5,
    )


def test_split_table_of_a_real_stratified_split():
    # class_counts [1, 1, 2, 10]: what vitlab.split writes for the manifest the table reads.
    recs = [
        Record(path=f"/d/{c}{i}.png", label=c, key=f"{c}{i}.png")
        for c, n in zip("abcd", (1, 1, 2, 10), strict=True)
        for i in range(n)
    ]
    table = get_split_table(summarize(stratified_split(recs)))
    assert table is not None
    assert (table.total_classes, table.total_images, table.classes_only_in_val) == (4, 14, 0)
    assert table.classes_by_size == (2, 1, 1)
    assert table.train_never_validated == 2  # the two singletons are train only


def test_split_table_missing_or_partial():
    assert get_split_table({}) is None
    partial = get_split_table({"classes": 200, "images_per_split": {"val": 326}})
    assert partial == SplitTable(
        classes=(None, None, None),
        images=(None, 326, None),
        mean_images=(None, None, None),
        total_classes=200,
        total_images=None,
        val_train_overlap=None,
        classes_only_in_val=None,
        train_never_validated=None,
        classes_by_size=(None, None, None),
        singleton_fraction=None,
    )
    html = draw_split(partial, None)
    assert "200" in html and "326" in html and "val∩train" not in html
    assert "not estimated" in html


@pytest.mark.parametrize(
    ("images", "sizes"),
    [(14, (12, 1, 1)), (10, (8, 1, 1)), (9, (9, 0, 0)), (100, (80, 10, 10)), (1, (1, 0, 0))],
)
def test_random_split_sizes(images, sizes):
    assert random_split_sizes(images) == sizes


def test_random_split_by_hand():
    # N = 14 images: train 12, val 1, test 1. Per class of k images:
    #   only in val = P(no train) - P(all test);  never validated = P(no val) - P(all test).
    # k = 1: only in val 1/14, never validated 12/14 (each of the two singletons).
    # k = 2: P(no train) = C(2,2)/C(14,2) = 1/91, all test impossible; P(no val) = C(13,2)/C(14,2)
    #        = 78/91.  k = 10: never without train; P(no val) = C(13,10)/C(14,10) = 4/14.
    only_val = 2 * Fraction(1, 14) + Fraction(1, 91)
    never = 2 * Fraction(12, 14) + Fraction(78, 91) + Fraction(4, 14)
    assert (only_val, never) == (Fraction(2, 13), Fraction(20, 7))
    # Val images of untrained classes: the one val image, when its class has no train image.
    untrained = 2 * Fraction(2, 14) * Fraction(1, 2) + Fraction(1, 91) * Fraction(2, 2)
    got = get_random_split([1, 1, 2, 10])
    assert got is not None
    assert got.sizes == (12, 1, 1)
    assert got.classes_only_in_val == pytest.approx(float(only_val), rel=1e-12)
    assert got.train_never_validated == pytest.approx(float(never), rel=1e-12)
    assert got.val_images_untrained == pytest.approx(float(untrained), rel=1e-12)
    assert got.shuffles == 20
    lo, hi = got.classes_only_in_val_range
    assert 0 <= lo <= hi <= 1  # one val image: at most one class only in val


def test_random_split_of_singletons_is_certain():
    # 10 singletons: 8 train, 1 val, 1 test, whatever the shuffle.
    assert get_random_split([1] * 10) == RandomSplit(
        sizes=(8, 1, 1),
        classes_only_in_val=pytest.approx(1.0),
        classes_only_in_val_range=(1, 1),
        train_never_validated=pytest.approx(8.0),
        train_never_validated_range=(8, 8),
        val_images_untrained=pytest.approx(1.0),
    )


def test_random_split_matches_simulation():
    counts = np.array([1, 1, 1, 2, 2, 3, 5, 8, 13, 40])
    got = get_random_split(counts)
    labels = np.repeat(np.arange(len(counts)), counts)
    t, v, _ = random_split_sizes(len(labels))
    rng = np.random.default_rng(1)
    only, never = [], []
    for _ in range(4000):
        order = rng.permutation(labels)
        train, val = set(order[:t]), set(order[t : t + v])
        only.append(len(val - train))
        never.append(len(train - val))
    assert got.classes_only_in_val == pytest.approx(np.mean(only), abs=0.05)
    assert got.train_never_validated == pytest.approx(np.mean(never), abs=0.05)


@pytest.mark.parametrize("counts", [[], [0, 0]])
def test_random_split_without_images(counts):
    assert get_random_split(counts) is None


def test_draw_split_renders_both():
    html = draw_split(get_split_table(SUMMARY), get_random_split([1, 1, 2, 10]))
    for text in (
        "mean images/class",
        "2.75",
        "val∩train overlap",
        "2 of 2 val classes",
        "singleton fraction",
        "50.0 % of classes",
        "random 80/10/10 (12/1/1 images)",
        "0.2",
        "2.9",
        "range over 20 shuffles",
    ):
        assert text in html, text
    assert "no split summary" in draw_split(None, None)


def _trial(state: TrialState, **attrs: Any) -> optuna.trial.FrozenTrial:
    value = attrs.pop("value", None)
    return create_trial(state=state, value=value, user_attrs=attrs)


def test_trial_states_and_compute_by_hand():
    study = optuna.create_study(direction="maximize")
    for trial in [
        _trial(TrialState.COMPLETE, value=0.4, epochs_run=10, epochs_planned=10, seconds=100.0),
        _trial(
            TrialState.COMPLETE,
            value=0.5,
            epochs_run=6,
            epochs_planned=10,
            seconds=60.0,
            stopped_early=True,
        ),  # saves 4 epochs at 10 s
        _trial(TrialState.PRUNED, epochs_run=2, epochs_planned=10, seconds=30.0),  # 8 at 15 s
        _trial(TrialState.PRUNED, epochs_run=3, epochs_planned=10),  # 7 epochs, no timing
        _trial(TrialState.FAIL, error="boom"),
        _trial(TrialState.RUNNING, epochs_run=1, epochs_planned=10, seconds=5.0),
        _trial(TrialState.WAITING),
    ]:
        study.add_trial(trial)
    assert get_trial_states(trials_frame(study)) == TrialStates(
        counts=(("COMPLETE", 2), ("PRUNED", 2), ("FAIL", 1), ("RUNNING", 1), ("WAITING", 1)),
        stopped_early=1,
        epochs_run=22,
        epochs_saved=19,
        hours_spent=195.0 / 3600,
        hours_saved=160.0 / 3600,
        untimed=1,
    )


def test_trial_states_of_an_empty_study():
    states = get_trial_states(trials_frame(optuna.create_study()))
    assert states == TrialStates(
        counts=tuple((s, 0) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")),
        stopped_early=0,
        epochs_run=0,
        epochs_saved=0,
        hours_spent=0.0,
        hours_saved=0.0,
        untimed=0,
    )
    assert "0 epochs" in draw_trial_states(states)


def test_trial_states_of_a_pruned_planted_study():
    inputs = planted_inputs(Planted(), 12, prune_below=0.0)
    frame = inputs.frame
    pruned = int((frame["state"] == "PRUNED").sum())
    assert pruned > 0  # trials expected below the baseline stop at half their 8 epochs
    states = get_trial_states(frame)
    assert states.epochs_saved == 4 * pruned
    assert states.hours_saved == pytest.approx(4 * pruned * 2.0 / 3600)
    assert states.epochs_run == 8 * (12 - pruned) + 4 * pruned
    html = draw_trial_states(states)
    assert f"{4 * pruned} epochs" in html and "PRUNED" in html
    assert records.EPOCHS_PLANNED in frame
