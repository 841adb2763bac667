"""The planted study: its trials read like real ones, and their top-1 is the planted truth
seen through a finite val split."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from study.analysis.inputs import baseline_row, finished
from study.analysis.planted import Planted, planted_inputs, planted_study


def test_a_planted_study_reads_like_a_run():
    inputs = planted_inputs(Planted(), 12, prune_below=0.0)
    frame = inputs.frame
    assert frame["number"].tolist() == list(range(12))
    base = baseline_row(frame)
    assert base is not None and int(base["number"]) == 0
    assert base["params_weight_decay"] == 0.1
    assert set(frame["state"]) <= {"COMPLETE", "PRUNED"}
    pruned = frame[frame["state"] == "PRUNED"]
    assert (pruned["stop_kind"] == "floor").all() and (pruned["epochs_run"] == 4).all()
    done = finished(frame)
    assert (done["value"] == done["best_val_top1"]).all() and (done["epochs_run"] == 8).all()
    # The predictions behind a value give that value exactly.
    for number, p in inputs.predictions.items():
        assert p.top1 == pytest.approx(frame.loc[number, "best_val_top1"])
    assert inputs.val_images == 326 and inputs.chance == 1 / 200
    assert sum(inputs.study.class_counts) == sum(inputs.study.train_counts) + 2 * 326


def test_top1_is_the_planted_truth_plus_binomial_noise():
    planted = Planted(effects={"a": 0.2}, nulls=(), baseline={"a": 0.0}, base=0.3)
    study, found = planted_study(planted, 300, sampler=optuna.samplers.RandomSampler(0))
    residuals = [found[t.number].top1 - planted.expected_top1(t.params) for t in study.trials]
    sd = np.sqrt(0.4 * 0.6 / planted.val_images)
    assert abs(np.mean(residuals)) < 3 * sd / np.sqrt(300)  # unbiased
    assert 0.7 * sd < np.std(residuals) < 1.3 * sd  # the noise of 326 images


def test_trials_share_hard_images():
    planted = Planted(effects={"a": 0.0}, nulls=(), baseline={"a": 0.0}, rho=0.8)
    _, found = planted_study(planted, 2, sampler=optuna.samplers.RandomSampler(0))
    a, b = found[0].correct, found[1].correct
    assert np.corrcoef(a, b)[0, 1] > 0.3  # independent trials would be near 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rho": 1.0}, "rho"),
        ({"classes": 1}, "classes"),
        ({"baseline": {"weight_decay": 0.1}}, "baseline lacks"),
    ],
)
def test_a_bad_planted_truth_is_a_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Planted(**kwargs)
