"""AnyOfPruner: a floor and a median together, on real in-memory studies with synthetic curves."""

from __future__ import annotations

import re
from typing import Any

import optuna
import pytest
from optuna.pruners import MedianPruner, NopPruner, ThresholdPruner

from study import records
from study.pruners.anyof import AnyOfPruner
from study.pruners.floor import FloorPruner
from study.pruners.optuna_rules import OptunaRule
from study.pruners.overfitting import OverfittingPruner
from study.pruners.registry import build_pruner
from study.space.load import load_space
from tests.study.pruners.helpers import FALLING_LOSS, SMALL_GAP, make_curves, rule, run_trial

optuna.logging.set_verbosity(optuna.logging.WARNING)

GOOD = [0.30, 0.34, 0.36, 0.38, 0.40, 0.41, 0.42, 0.43, 0.44, 0.45]
# Learning, far above the floor, but a few points under the finished trials from epoch 2 on.
MEDIOCRE = [0.30, 0.31, 0.32, 0.33, 0.34, 0.35, 0.36, 0.37, 0.38, 0.39]
NOT_LEARNING = [0.05, 0.08, 0.09, 0.10, 0.11, 0.12, 0.12, 0.13, 0.13, 0.14]


def demo_like() -> OverfittingPruner:
    """The demo space's pruner with an absolute floor: the overfitting rules, a floor, a median."""
    return OverfittingPruner(
        patience=2,
        min_delta=0.02,
        gap_threshold=0.25,
        wrapped=AnyOfPruner(
            [
                rule("threshold", lower=0.15, n_warmup_steps=3),
                rule("median", n_startup_trials=3, n_warmup_steps=5),
            ]
        ),
    )


@pytest.mark.parametrize(
    ("finished", "top1", "pruned_at", "reason"),
    [
        # The floor needs no other trials: the first trial of a study can be stopped by it.
        (0, NOT_LEARNING, 3, "val top-1 0.090 below the floor 0.15 at epoch 3"),
        (3, NOT_LEARNING, 3, "val top-1 0.090 below the floor 0.15 at epoch 3"),
        # The median waits for 3 finished trials and for epoch 5: a mediocre trial lives before.
        (2, MEDIOCRE, None, None),
        (
            3,
            MEDIOCRE,
            5,
            "below the median of earlier trials at epoch 5 (val top-1 0.340 < median 0.400)",
        ),
        (3, GOOD, None, None),
    ],
)
def test_floor_then_late_median(
    finished: int, top1: list[float], pruned_at: int | None, reason: str | None
) -> None:
    study = optuna.create_study(direction="maximize", pruner=demo_like())
    for _ in range(finished):
        assert run_trial(study, make_curves(FALLING_LOSS, GOOD, SMALL_GAP)) is None
    reasons: list[Any] = []
    assert run_trial(study, make_curves(FALLING_LOSS, top1, SMALL_GAP), reasons) == pruned_at
    assert reasons == ([reason] if reason else [])


def test_the_first_pruner_that_fires_decides_and_names_the_reason() -> None:
    floor = rule("threshold", lower=0.15, n_warmup_steps=3)
    median = rule("median", n_startup_trials=1, n_warmup_steps=3)
    for order, expected in (
        ([floor, median], "val top-1 0.090 below the floor 0.15 at epoch 3"),
        ([median, floor], "below the median of earlier trials at epoch 3"),
    ):
        pruner = OverfittingPruner(wrapped=AnyOfPruner(order))
        study = optuna.create_study(direction="maximize", pruner=pruner)
        run_trial(study, make_curves(FALLING_LOSS, GOOD, SMALL_GAP))
        reasons: list[Any] = []
        assert run_trial(study, make_curves(FALLING_LOSS, NOT_LEARNING, SMALL_GAP), reasons) == 3
        assert reasons[0].startswith(expected)
        # The decision names the member that fired first.
        assert study.trials[-1].user_attrs[records.STOP_KIND] == order[0].kind


def test_nothing_prunes_means_no_deciding_pruner() -> None:
    pruner = AnyOfPruner([NopPruner(), ThresholdPruner(lower=0.15, n_warmup_steps=3)])
    study = optuna.create_study(direction="maximize", pruner=pruner)
    assert run_trial(study, make_curves(FALLING_LOSS, GOOD, SMALL_GAP)) is None
    assert pruner.decide(study, study.trials[-1]) is None
    assert records.STOP_KIND not in study.trials[-1].user_attrs


def test_a_stateful_member_is_asked_once_per_step() -> None:
    # Hyperband records rung state as it decides: asked again for the reason it could answer
    # otherwise, so it is asked once, and its decision is recorded for the objective to take.
    hyperband = rule("hyperband", min_resource=1, max_resource=9, reduction_factor=3)
    assert isinstance(hyperband, OptunaRule)
    calls: list[int] = []
    original = hyperband.pruner.prune

    def counting(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        calls.append(trial.last_step or 0)
        return original(study, trial)

    hyperband.pruner.prune = counting  # type: ignore[method-assign]
    pruner = AnyOfPruner([hyperband])
    study = optuna.create_study(direction="maximize", pruner=pruner, study_name="hyperband")
    trial = study.ask()
    trial.report(0.3, 1)
    first = trial.should_prune()
    taken = pruner.take(study, trial.number)
    assert (taken is not None) == first and pruner.take(study, trial.number) is None
    assert calls == [1]
    trial.report(0.3, 2)
    trial.should_prune()
    assert calls == [1, 2]  # a new step is a new question


@pytest.mark.parametrize(
    ("pruners", "error", "match"),
    [
        ([], ValueError, r"non-empty list.*\[\]"),
        ("median", ValueError, "non-empty list.*'median'"),
        (None, ValueError, "non-empty list.*None"),
        ([MedianPruner(), "threshold"], TypeError, "optuna pruners.*'threshold'"),
    ],
)
def test_bad_pruner_lists_are_refused_at_once(pruners: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        AnyOfPruner(pruners)


def test_build_from_yaml_settings() -> None:
    pruner = build_pruner(
        {
            "type": "overfitting",
            "wrapped": {
                "type": "any",
                "pruners": [
                    {"type": "threshold", "lower": 0.15, "n_warmup_steps": 3},
                    {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 5},
                ],
            },
        }
    )
    assert isinstance(pruner, OverfittingPruner) and isinstance(pruner.wrapped, AnyOfPruner)
    members = pruner.wrapped.pruners
    assert all(isinstance(p, OptunaRule) for p in members)
    assert [(p.kind, type(p.pruner)) for p in members] == [  # type: ignore[attr-defined]
        ("threshold", ThresholdPruner),
        ("median", MedianPruner),
    ]


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"type": "any"}, r"type 'any' needs 'pruners'"),
        ({"type": "any", "pruners": []}, r"pruner\.pruners: expected a non-empty list.*\[\]"),
        ({"type": "any", "pruners": {"type": "median"}}, r"pruner\.pruners: expected a non-empty"),
        (
            {"type": "any", "pruners": [{"type": "median"}, {"type": "bogus"}]},
            r"pruner\.pruners\[1\]\.type: unknown pruner type 'bogus'",
        ),
        (
            {
                "type": "overfitting",
                "wrapped": {"type": "any", "pruners": [{"type": "nop", "x": 1}]},
            },
            r"pruner\.wrapped\.pruners\[0\]: unknown key 'x'",
        ),
    ],
)
def test_build_refuses_bad_lists(settings: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_pruner(settings)


def test_demo_space_stops_a_trial_far_below_its_baseline_with_a_relative_floor() -> None:
    """The demo's pruner by its behaviour, not its tuned numbers: they may change."""
    pruner = load_space("search_spaces/demo.yaml").make_pruner()
    assert isinstance(pruner, OverfittingPruner) and isinstance(pruner.wrapped, AnyOfPruner)
    floors = [p for p in pruner.wrapped.pruners if isinstance(p, FloorPruner)]
    # Relative to the baseline, so the floor holds on other data; a median follows it.
    assert len(floors) == 1 and floors[0].baseline_fraction is not None
    assert any(isinstance(p, OptunaRule) and p.kind == "median" for p in pruner.wrapped.pruners)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    assert run_trial(study, make_curves(FALLING_LOSS, GOOD, SMALL_GAP), baseline=True) is None
    reasons: list[Any] = []
    pruned_at = run_trial(study, make_curves(FALLING_LOSS, [0.0] * 10, SMALL_GAP), reasons)
    assert pruned_at is not None and pruned_at >= floors[0].n_warmup_steps
    assert study.trials[-1].user_attrs[records.STOP_KIND] == floors[0].kind == "floor"
    baseline = GOOD[pruned_at - 1]
    assert re.fullmatch(
        rf"val top-1 0\.000 below .+ the baseline's {baseline:.3f} at epoch {pruned_at}",
        reasons[0],
    ), reasons
    # A trial as good as the baseline is never stopped.
    assert run_trial(study, make_curves(FALLING_LOSS, GOOD, SMALL_GAP)) is None
