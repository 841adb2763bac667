"""Least-squares effects with bootstrap intervals, and their direction in words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from study.analysis import effects as eff


def _rows(**columns) -> pd.DataFrame:
    return pd.DataFrame({f"params_{k}" if k != "value" else k: v for k, v in columns.items()})


def test_a_noise_free_linear_effect_is_exact():
    rng = np.random.default_rng(0)
    x, z = rng.random(60), rng.random(60)
    rows = _rows(x=x, z=z, value=0.4 + 0.1 * x - 0.05 * z)
    dists = {"x": FloatDistribution(0, 1), "z": FloatDistribution(0, 1)}
    got = eff.effects(rows, ["x", "z"], dists, {"x": 0.2, "z": 0.0}, {"x": 0.8, "z": 1.0})
    assert got["x"].effect.estimate == pytest.approx(0.06)
    assert got["x"].effect.low == pytest.approx(0.06)
    assert got["x"].effect.high == pytest.approx(0.06)
    assert got["z"].effect.estimate == pytest.approx(-0.05)
    assert (got["x"].direction, got["z"].direction) == ("more x → better", "more z → worse")


def test_an_effect_on_a_log_scale():
    rng = np.random.default_rng(1)
    wd = 10 ** rng.uniform(-5, -1, 80)
    rows = _rows(weight_decay=wd, value=0.3 + 0.02 * np.log10(wd))
    dists = {"weight_decay": FloatDistribution(1e-5, 1e-1, log=True)}
    got = eff.effects(rows, ["weight_decay"], dists, {"weight_decay": 1e-4}, {"weight_decay": 1e-2})
    assert got["weight_decay"].effect.estimate == pytest.approx(0.04)


def test_a_peak_is_worded_as_one():
    x = np.linspace(0, 1, 101)
    rows = _rows(x=x, value=0.5 - (x - 0.5) ** 2)
    got = eff.effects(rows, ["x"], {"x": FloatDistribution(0, 1)}, {"x": 0.0}, {"x": 0.5})
    assert got["x"].direction == "more x → better, up to ~0.5, then worse"
    assert got["x"].effect.estimate == pytest.approx(0.25)


def test_noise_alone_has_no_direction_and_an_interval_around_zero():
    rng = np.random.default_rng(2)
    rows = _rows(x=rng.random(80), value=0.4 + rng.normal(0, 0.03, 80))
    got = eff.effects(rows, ["x"], {"x": FloatDistribution(0, 1)}, {"x": 0.0}, {"x": 1.0})
    assert got["x"].direction == eff.NO_DIRECTION
    assert not got["x"].effect.excludes_zero


def test_a_categorical_effect_from_the_baseline_category_to_the_best():
    rng = np.random.default_rng(3)
    model = rng.choice(["vit_micro", "vit_mini"], 40)
    images = rng.choice([1, 2, 3, 5], 40).astype(float)  # floats in a frame, ints in the space
    value = 0.3 + 0.05 * (model == "vit_mini") - 0.01 * images
    rows = _rows(model=model, min_images=images, value=value)
    dists = {
        "model": CategoricalDistribution(["vit_micro", "vit_mini"]),
        "min_images": CategoricalDistribution([1, 2, 3, 5]),
    }
    base, best = {"model": "vit_micro", "min_images": 2}, {"model": "vit_mini", "min_images": 1}
    got = eff.effects(rows, ["model", "min_images"], dists, base, best)
    assert got["model"].effect.estimate == pytest.approx(0.05)
    assert got["min_images"].effect.estimate == pytest.approx(0.01)
    assert got["model"].direction == "model vit_mini → best, vit_micro → worst"
    assert got["min_images"].direction == "min_images 1 → best, 5 → worst"


def test_a_category_no_trial_used_or_a_missing_value_has_no_effect():
    rng = np.random.default_rng(4)
    rows = _rows(model=rng.choice(["a", "b"], 30), x=rng.random(30), value=rng.random(30))
    dists = {"model": CategoricalDistribution(["a", "b", "c"]), "x": FloatDistribution(0, 1)}
    got = eff.effects(rows, ["model", "x"], dists, {"model": "c"}, {"model": "a", "x": 0.5})
    assert got["model"].effect is None and got["x"].effect is None


def test_too_few_trials_estimate_nothing():
    rows = _rows(x=[0.1, 0.5, 0.9], value=[0.1, 0.2, 0.3])
    got = eff.effects(rows, ["x"], {"x": FloatDistribution(0, 1)}, {"x": 0.1}, {"x": 0.9})
    assert got == {"x": eff.Effect(None, eff.NO_DIRECTION)}


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.1, "0.1"), (2.0, "2"), (3, "3"), (0.000123456, "0.000123"), (True, "True"), ("a", "a")],
)
def test_fmt(value, text):
    assert eff.fmt(value) == text
