"""PED-ANOVA and fANOVA with bootstrap intervals, on hand-built Optuna trials."""

from __future__ import annotations

import warnings

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.importance import PedAnovaImportanceEvaluator

from study.analysis import importance as imp


def _trials(x: np.ndarray, y: np.ndarray, names: list[str]) -> list[optuna.trial.FrozenTrial]:
    dists = {n: FloatDistribution(0.0, 1.0) for n in names}
    return [
        optuna.trial.create_trial(
            params=dict(zip(names, map(float, row), strict=True)), distributions=dists, value=v
        )
        for row, v in zip(x, y, strict=True)
    ]


def _top_and_bottom(n: int = 200) -> list[optuna.trial.FrozenTrial]:
    """``top`` decides which trials are best (high values), ``bottom`` which are worst."""
    rng = np.random.default_rng(0)
    x = rng.random((n, 2))
    y = 0.5 + 0.4 * (x[:, 0] > 0.85) - 0.4 * (x[:, 1] < 0.15) + rng.normal(0, 0.01, n)
    return _trials(x, [float(v) for v in y], ["top", "bottom"])


def test_ped_anova_reads_a_maximized_objective_as_higher_is_better():
    found = imp.importances(_top_and_bottom(), ["top", "bottom"], imp.plan(200, 10))
    ped = found[imp.PED_ANOVA]
    assert ped["top"].estimate > 0.8 > ped["bottom"].estimate
    assert ped["top"].low > ped["bottom"].high


def test_ped_anova_with_a_custom_target_would_rank_the_worst():
    """The trap the module avoids: with ``target=`` PED-ANOVA assumes lower is better."""
    study = optuna.create_study(direction="maximize")
    study.add_trials(_top_and_bottom())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrong = optuna.importance.get_param_importances(
            study, evaluator=PedAnovaImportanceEvaluator(), target=lambda t: t.value
        )
    assert wrong["bottom"] > wrong["top"]


def test_fanova_ranks_the_parameter_that_moves_the_value():
    rng = np.random.default_rng(1)
    x = rng.random((150, 3))
    y = 0.3 * x[:, 0] + 0.1 * x[:, 1] + rng.normal(0, 0.01, 150)
    found = imp.importances(_trials(x, list(y), ["a", "b", "c"]), ["a", "b", "c"], imp.plan(150, 8))
    fan = found[imp.FANOVA]
    assert fan["a"].estimate > fan["b"].estimate > fan["c"].estimate
    assert fan["a"].low <= fan["a"].estimate <= fan["a"].high
    assert sum(i.estimate for i in fan.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("trials", "resamples", "expected"),
    [
        (5, None, imp.Plan(trials=5, resamples=40, size=5)),
        (200, None, imp.Plan(trials=200, resamples=40, size=200)),
        (1000, None, imp.Plan(trials=1000, resamples=20, size=500)),
        (10_000, 7, imp.Plan(trials=10_000, resamples=7, size=500)),
        (0, 0, imp.Plan(trials=0, resamples=0, size=0)),
    ],
)
def test_plan(trials, resamples, expected):
    assert imp.plan(trials, resamples) == expected


def test_plan_rejects_negative_resamples():
    with pytest.raises(ValueError, match="resamples"):
        imp.plan(10, -1)


def test_plan_says_when_it_subsamples():
    assert "subsampled" in imp.plan(10_000).describe()
    assert "subsampled" not in imp.plan(100).describe()


def test_distributions_widen_the_space_and_map_categories():
    rows = pd.DataFrame(
        {
            "params_lr": [1e-4, 5e-2],
            "params_min_images": [2.0, 5.0],  # a frame column of floats for int choices
            "params_model": ["vit_micro", "vit_mini"],
            "params_extra": [0.5, 0.7],
        }
    )
    space = {
        "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
        "min_images": {"type": "categorical", "choices": [1, 2, 3, 5]},
        "model": {"type": "categorical", "choices": ["vit_micro", "vit_mini"]},
    }
    got = imp.distributions(rows, ["lr", "min_images", "model", "extra"], space)
    assert got == {
        "lr": FloatDistribution(1e-4, 5e-2, log=True),
        "min_images": CategoricalDistribution([1, 2, 3, 5]),
        "model": CategoricalDistribution(["vit_micro", "vit_mini"]),
        "extra": FloatDistribution(0.5, 0.7),
    }
    trials = imp.frozen_trials(rows.assign(value=[0.1, 0.2]), list(got), got)
    assert trials[1].params == {"lr": 5e-2, "min_images": 5, "model": "vit_mini", "extra": 0.7}


def test_choice_of_keeps_bools_apart_from_ints():
    dist = CategoricalDistribution([1, True])
    assert imp.choice_of(True, dist) is True
    assert imp.choice_of(1.0, dist) == 1 and imp.choice_of(1.0, dist) is not True
