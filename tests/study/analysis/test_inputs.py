"""What every section reads: the finished trials, the baseline, the best, the noise floor."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from study import records
from study.analysis.inputs import (
    TOP_TRIALS,
    Predictions,
    ReportInputs,
    baseline_row,
    best_row,
    finished,
    noise_floor,
    prediction_trials,
)
from study.frame import trials_frame

X = {"x": FloatDistribution(0.0, 1.0)}


def study_of(*trials: tuple[TrialState, float | None, bool]) -> optuna.Study:
    """A real study: one trial per (state, value, baseline)."""
    study = optuna.create_study(direction="maximize")
    for state, value, baseline in trials:
        study.add_trial(
            create_trial(
                state=state,
                value=value if state == TrialState.COMPLETE else None,
                intermediate_values={1: value} if state == TrialState.PRUNED else {},
                params={"x": 0.5},
                distributions=X,
                user_attrs={records.BASELINE: baseline},
            )
        )
    return study


C, P, F = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL


@pytest.mark.parametrize(
    ("trials", "finished_numbers", "baseline", "best"),
    [
        ([], [], None, None),
        ([(C, 0.4, True)], [0], 0, 0),
        ([(C, 0.4, True), (C, 0.5, False), (P, 0.9, False), (F, None, False)], [0, 1], 0, 1),
        ([(F, None, True), (C, 0.4, True), (C, 0.3, False)], [1, 2], 1, 1),  # a retried baseline
        ([(C, 0.4, False), (C, 0.4, False)], [0, 1], None, 0),  # ties: the earlier
        ([(P, 0.5, True), (C, 0.3, False)], [1], None, 1),  # a pruned baseline is not finished
    ],
)
def test_finished_baseline_and_best(trials, finished_numbers, baseline, best):
    frame = trials_frame(study_of(*trials))
    assert list(finished(frame)["number"]) == finished_numbers
    got_base, got_best = baseline_row(frame), best_row(frame)
    assert (None if got_base is None else int(got_base["number"])) == baseline
    assert (None if got_best is None else int(got_best["number"])) == best


def test_prediction_trials_are_the_baseline_and_the_top_five():
    values = [0.30, 0.50, 0.45, 0.40, 0.48, 0.20, 0.49, 0.47]
    frame = trials_frame(study_of(*[(C, v, i == 0) for i, v in enumerate(values)]))
    assert TOP_TRIALS == 5
    assert prediction_trials(frame) == (0, 1, 6, 4, 7, 2)
    frame = trials_frame(study_of(*[(C, v, i == 1) for i, v in enumerate(values)]))
    assert prediction_trials(frame) == (1, 6, 4, 7, 2)  # the baseline is already among them


@pytest.mark.parametrize(
    ("top1", "images", "expected"),
    [(0.4, 326, math.sqrt(0.24 / 326)), (0.0, 100, 0.0), (1.0, 5, 0.0), (0.5, 10_000, 0.005)],
)
def test_the_noise_floor_is_one_binomial_standard_error(top1, images, expected):
    assert noise_floor(top1, images) == pytest.approx(expected)


def test_the_demos_noise_floor_is_about_2_7_points():
    assert round(100 * noise_floor(0.42, 326), 1) == 2.7


def test_no_val_images_has_no_noise_floor():
    assert math.isnan(noise_floor(0.4, 0))


def test_predictions_count_a_dropped_class_as_an_error():
    p = Predictions(labels=np.array([0, 1, 2, 2]), predicted=np.array([0, -1, 2, 1]))
    assert list(p.correct) == [True, False, True, False] and p.top1 == 0.5
    assert Predictions.from_array(np.array([[0, 1], [0, 0]])).top1 == 0.5


def test_predictions_need_equal_arrays():
    with pytest.raises(ValueError, match="equal 1-d"):
        Predictions(labels=np.array([0, 1]), predicted=np.array([0]))


def test_val_images_and_chance_come_from_the_study_record():
    record = records.StudyRecord(
        split_summary={"classes": 4, "images_per_split": {"val": 12}}, classes=["a", "b"]
    )
    inputs = ReportInputs(study_name="s", frame=pd.DataFrame(), study=record)
    assert (inputs.val_images, inputs.chance) == (12, 0.5)  # the recorded classes first
    empty = ReportInputs(study_name="s", frame=pd.DataFrame())
    assert (empty.val_images, empty.chance) == (0, None)
