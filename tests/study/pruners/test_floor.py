"""The relative floor: a fraction of the baseline or a multiple of chance, on real studies."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest
from optuna.pruners import MedianPruner

from study import records
from study.pruners.anyof import AnyOfPruner
from study.pruners.floor import FloorPruner
from study.pruners.optuna_rules import OptunaRule
from study.pruners.overfitting import OverfittingPruner
from study.pruners.registry import build_pruner
from tests.study.pruners.helpers import FALLING_LOSS, SMALL_GAP, make_curves, run_trial

optuna.logging.set_verbosity(optuna.logging.WARNING)
NAN = math.nan

# The demo's baseline (fine-tuned, ~36 % at epoch 3) and a hard photo set's (11.5 % at epoch 3).
EASY_BASELINE = [0.20, 0.30, 0.36, 0.38, 0.40, 0.41, 0.42, 0.42]
HARD_BASELINE = [0.04, 0.08, 0.115, 0.14, 0.16, 0.17, 0.18, 0.18]
FROM_SCRATCH = [0.04, 0.07, 0.09, 0.10, 0.11, 0.12, 0.13, 0.14]  # ~9 % at epoch 3
NEAR_CHANCE = [0.004, 0.006, 0.008, 0.01, 0.01, 0.01, 0.01, 0.01]
HALF = {"baseline_fraction": 0.5, "n_warmup_steps": 3}
BOTH = {"baseline_fraction": 0.5, "chance_multiple": 3, "n_warmup_steps": 3}

ROWS: list[tuple[str, dict, int | None, Any, list[float], int | None, str | None]] = [
    # id, floor settings, classes, baseline (None: no baseline; an int k: reported k epochs so far
    # and still running), trial's val top-1, epoch pruned, reason
    (
        "from scratch under half the easy baseline",
        HALF,
        200,
        EASY_BASELINE,
        FROM_SCRATCH,
        3,
        "val top-1 0.090 below half the baseline's 0.360 at epoch 3",
    ),
    # The same trial on a dataset where the baseline itself is at 11.5 %: half of it is 0.0575.
    ("same curve, the hard baseline", HALF, 121, HARD_BASELINE, FROM_SCRATCH, None, None),
    (
        "another fraction names itself",
        {"baseline_fraction": 0.3, "n_warmup_steps": 3},
        121,
        HARD_BASELINE,
        NEAR_CHANCE,
        3,
        "val top-1 0.008 below 0.3 x the baseline's 0.115 at epoch 3",
    ),
    (
        "under the floor only in warm-up",
        HALF,
        200,
        EASY_BASELINE,
        [0.01, 0.1] + [0.3] * 6,
        None,
        None,
    ),
    (
        "baseline still running: chance decides",
        BOTH,
        200,
        2,
        NEAR_CHANCE,
        3,
        "val top-1 0.008 below 3x chance (0.015) at epoch 3, with no baseline value there",
    ),
    ("baseline still running, learning trial lives", BOTH, 200, 2, FROM_SCRATCH, None, None),
    ("baseline still running, no chance floor: no prune", HALF, 200, 2, NEAR_CHANCE, None, None),
    ("no baseline trial at all, no chance floor", HALF, 200, None, NEAR_CHANCE, None, None),
    (
        "baseline stopped early at epoch 4: chance after it",
        BOTH,
        200,
        EASY_BASELINE[:4],
        [0.30, 0.32, 0.34, 0.36, 0.01, 0.01, 0.01, 0.01],
        5,
        "val top-1 0.010 below 3x chance (0.015) at epoch 5, with no baseline value there",
    ),
    (
        "chance only, 121 classes",
        {"chance_multiple": 3, "n_warmup_steps": 3},
        121,
        None,
        NEAR_CHANCE[:2] + [0.02] * 6,
        3,
        "val top-1 0.020 below 3x chance (0.025) at epoch 3",
    ),
    (
        "chance only, no classes recorded",
        {"chance_multiple": 3},
        None,
        None,
        NEAR_CHANCE,
        None,
        None,
    ),
    (
        "NaN is left to other rules",
        HALF,
        200,
        EASY_BASELINE,
        [0.3, 0.3, NAN] + [0.3] * 5,
        None,
        None,
    ),
]


def start_baseline(study: optuna.Study, top1: list[float]) -> optuna.Trial:
    """The baseline trial, enqueued as the runner does, having reported ``top1`` (still running)."""
    study.enqueue_trial({}, user_attrs={records.BASELINE: True})
    trial = study.ask()
    for epoch, value in enumerate(top1, start=1):
        trial.report(value, epoch)
    return trial


@pytest.mark.parametrize(
    ("settings", "classes", "baseline", "top1", "pruned_at", "reason"),
    [r[1:] for r in ROWS],
    ids=[r[0] for r in ROWS],
)
def test_relative_floor(settings, classes, baseline, top1, pruned_at, reason) -> None:
    study = optuna.create_study(direction="maximize", pruner=FloorPruner(**settings))
    if classes is not None:
        study.set_user_attr("classes", [f"c{i}" for i in range(classes)])  # as the runner does
    if isinstance(baseline, int):  # still running in another worker, at epoch `baseline`
        start_baseline(study, EASY_BASELINE[:baseline])
    elif baseline is not None:
        curves = make_curves(FALLING_LOSS[: len(baseline)], baseline, SMALL_GAP[: len(baseline)])
        assert run_trial(study, curves, baseline=True) is None
    reasons: list[Any] = []
    curves = make_curves(FALLING_LOSS[: len(top1)], top1, SMALL_GAP[: len(top1)])
    assert run_trial(study, curves, reasons) == pruned_at
    assert reasons == ([reason] if reason else [])
    assert study.trials[-1].user_attrs.get(records.STOP_KIND) == ("floor" if reason else None)


def test_the_baseline_is_never_below_its_own_floor() -> None:
    study = optuna.create_study(direction="maximize", pruner=FloorPruner(**BOTH))
    study.set_user_attr("classes", 200)
    curves = make_curves(FALLING_LOSS[:8], NEAR_CHANCE, SMALL_GAP[:8])
    assert run_trial(study, curves, baseline=True) is None


def test_a_retried_baseline_uses_the_first_attempt_s_values() -> None:
    study = optuna.create_study(direction="maximize", pruner=FloorPruner(**HALF))
    first = start_baseline(study, EASY_BASELINE[:5])
    study.tell(first, state=optuna.trial.TrialState.FAIL)  # a lost worker, then its retry
    start_baseline(study, EASY_BASELINE[:1])
    reasons: list[Any] = []
    assert run_trial(study, make_curves(FALLING_LOSS[:8], FROM_SCRATCH, SMALL_GAP[:8]), reasons)
    assert reasons == ["val top-1 0.090 below half the baseline's 0.360 at epoch 3"]


def test_floor_reason_through_the_overfitting_and_any_of_pruners() -> None:
    pruner = build_pruner(
        {
            "type": "overfitting",
            "wrapped": {
                "type": "any",
                "pruners": [
                    {"type": "floor", "baseline_fraction": 0.5, "chance_multiple": 3,
                     "n_warmup_steps": 3},
                    {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 5},
                ],
            },
        }
    )  # fmt: skip
    assert isinstance(pruner, OverfittingPruner) and isinstance(pruner.wrapped, AnyOfPruner)
    floor, median = pruner.wrapped.pruners
    assert isinstance(floor, FloorPruner) and isinstance(median, OptunaRule)
    assert isinstance(median.pruner, MedianPruner)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    base = make_curves(FALLING_LOSS[:8], EASY_BASELINE, SMALL_GAP[:8])
    assert run_trial(study, base, baseline=True) is None
    reasons: list[Any] = []
    bad = make_curves(FALLING_LOSS[:8], FROM_SCRATCH, SMALL_GAP[:8])
    assert run_trial(study, bad, reasons) == 3
    assert reasons == ["val top-1 0.090 below half the baseline's 0.360 at epoch 3"]
    assert study.trials[-1].user_attrs[records.STOP_KIND] == "floor"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "baseline_fraction or chance_multiple, got neither"),
        ({"baseline_fraction": 0.0}, r"baseline_fraction.*0\.0"),
        ({"baseline_fraction": 1.5}, r"baseline_fraction.*1\.5"),
        ({"baseline_fraction": "half"}, "baseline_fraction.*'half'"),
        ({"baseline_fraction": NAN}, "baseline_fraction.*nan"),
        ({"chance_multiple": 0.5}, r"chance_multiple.*0\.5"),
        ({"chance_multiple": math.inf}, "chance_multiple.*inf"),
        ({"chance_multiple": True}, "chance_multiple.*True"),
        ({"chance_multiple": 3, "n_warmup_steps": -1}, "n_warmup_steps.*-1"),
        ({"chance_multiple": 3, "n_warmup_steps": 2.5}, r"n_warmup_steps.*2\.5"),
    ],
)
def test_bad_floor_settings_are_refused_at_once(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FloorPruner(**kwargs)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"type": "floor"}, r"pruner \(floor\): .*got neither"),
        ({"type": "floor", "of": "baseline"}, r"unknown key 'of' for type 'floor'"),
    ],
)
def test_build_refuses_bad_floors(settings: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_pruner(settings)


def test_a_floor_needs_a_maximized_study() -> None:
    study = optuna.create_study(direction="minimize", pruner=FloorPruner(chance_multiple=3))
    trial = study.ask()
    trial.report(0.5, 1)
    with pytest.raises(ValueError, match="maximized study"):
        trial.should_prune()
