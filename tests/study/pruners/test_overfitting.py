"""The overfitting pruner on real in-memory Optuna studies, fed synthetic per-epoch curves."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest
from optuna.pruners import (
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    PatientPruner,
    PercentilePruner,
    ThresholdPruner,
)
from optuna.trial import TrialState

from study import records
from study.pruners.floor import FloorPruner
from study.pruners.optuna_rules import OptunaRule
from study.pruners.overfitting import OverfitRule, OverfittingPruner, overfitting_reason
from study.pruners.registry import build_pruner
from tests.study.pruners.helpers import FALLING_LOSS, SMALL_GAP, make_curves, rule, run_trial

optuna.logging.set_verbosity(optuna.logging.WARNING)
# PatientPruner is experimental in Optuna; building one warns.
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
NAN = math.nan

# Val loss with its minimum 2.00 at epoch 5, then rising from epoch 6.
U_LOSS = [3.0, 2.6, 2.3, 2.1, 2.0, 2.05, 2.1, 2.2, 2.3, 2.4]
RISING_TOP1 = [0.10, 0.20, 0.28, 0.33, 0.37, 0.40, 0.42, 0.44, 0.45, 0.46]
# Val top-1 best 0.35 at epoch 4, then never above it.
FLAT_TOP1 = [0.10, 0.20, 0.30, 0.35, 0.35, 0.34, 0.35, 0.35, 0.34, 0.35]
SLOW_TOP1 = [0.10, 0.20, 0.25, 0.26, 0.27, 0.28, 0.29, 0.30, 0.31, 0.32]  # +0.01 an epoch
BIG_GAP = [0.05, 0.10, 0.20, 0.30, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65]


def nan_at(values: list[float], *epochs: int) -> list[float]:
    return [NAN if i + 1 in epochs else v for i, v in enumerate(values)]


ROWS = [
    # id, pruner settings, (val_loss, val_top1, gap), epoch that prunes
    ("improving", {}, (FALLING_LOSS, RISING_TOP1, SMALL_GAP), None),
    ("loss U-shape, rise from epoch 6", {}, (U_LOSS, RISING_TOP1, SMALL_GAP), 8),
    ("loss U-shape, patience 2", {"patience": 2}, (U_LOSS, RISING_TOP1, SMALL_GAP), 7),
    (
        "rise within min_delta",
        {"min_delta": 0.01},
        ([3.0, 2.5, 2.2, 2.1, 2.0, 2.005, 2.008, 2.01, 2.01, 2.0], RISING_TOP1, SMALL_GAP),
        None,
    ),
    (
        "same rise, min_delta 0",
        {},
        ([3.0, 2.5, 2.2, 2.1, 2.0, 2.005, 2.008, 2.01, 2.01, 2.0], RISING_TOP1, SMALL_GAP),
        8,
    ),
    (
        "rise before warmup waits for warmup",
        {"warmup_epochs": 5, "patience": 2},
        ([2.0, 2.1, 2.2, 2.3, 2.4, 2.5], RISING_TOP1[:6], SMALL_GAP[:6]),
        5,
    ),
    (
        "rise from epoch 2, no warmup",
        {"warmup_epochs": 0, "patience": 2},
        ([2.0, 2.1, 2.2, 2.3, 2.4, 2.5], RISING_TOP1[:6], SMALL_GAP[:6]),
        3,
    ),
    (
        "single bump that recovers",
        {},
        ([3.0, 2.5, 2.2, 2.6, 2.1, 2.0, 1.95, 1.9, 1.85, 1.8], RISING_TOP1, SMALL_GAP),
        None,
    ),
    (
        "two-epoch bump, patience 3",
        {},
        ([3.0, 2.5, 2.2, 2.6, 2.4, 2.1, 2.0, 1.9, 1.85, 1.8], RISING_TOP1, SMALL_GAP),
        None,
    ),
    ("big gap, flat val top-1", {}, (FALLING_LOSS, FLAT_TOP1, BIG_GAP), 7),
    ("big gap, val top-1 still improving", {}, (FALLING_LOSS, SLOW_TOP1, BIG_GAP), None),
    (
        "big gap, improving by less than min_delta",
        {"min_delta": 0.05},  # +0.03 over the 3-epoch window is not > 0.05
        (FALLING_LOSS, SLOW_TOP1, BIG_GAP),
        6,
    ),
    ("small gap, flat val top-1", {}, (FALLING_LOSS, FLAT_TOP1, SMALL_GAP), None),
    ("gap_threshold None", {"gap_threshold": None}, (FALLING_LOSS, FLAT_TOP1, BIG_GAP), None),
    ("NaN loss at the latest epoch waits", {}, (nan_at(U_LOSS, 8), RISING_TOP1, SMALL_GAP), 9),
    ("NaN loss inside the window", {}, (nan_at(U_LOSS, 7), RISING_TOP1, SMALL_GAP), 8),
    ("NaN loss before the window", {}, (nan_at(U_LOSS, 1, 2), RISING_TOP1, SMALL_GAP), 8),
    ("all-NaN loss", {}, ([NAN] * 10, RISING_TOP1, SMALL_GAP), None),
    ("NaN gap at the latest epoch", {}, (FALLING_LOSS, FLAT_TOP1, nan_at(BIG_GAP, 7)), 8),
    ("NaN val top-1 before the window", {}, (FALLING_LOSS, nan_at(FLAT_TOP1, 1), BIG_GAP), 7),
]


# With the un-augmented train loss in the curves, a val-loss rise counts only while train loss
# keeps falling (overfitting); both rising is a trial losing its footing, left to the wrapped
# pruner. The val-loss best of U_LOSS is epoch 5; the rule fires at epoch 8 (patience 3).
FALLING_TRAIN = [3.0 - 0.25 * i for i in range(10)]
TRAIN_UP_FROM_5 = [3.0, 2.6, 2.3, 2.1, 2.0, 2.05, 2.1, 2.2, 2.3, 2.4]
TRAIN_LOSS_ROWS = [
    ("val up, train down: overfitting", U_LOSS, FALLING_TRAIN, 8),
    ("val up, train up too: not overfitting", U_LOSS, TRAIN_UP_FROM_5, None),
    ("train flat since the best", U_LOSS, [3.0, 2.6, 2.3, 2.1] + [2.0] * 6, None),
    ("NaN train loss decides nothing either way", U_LOSS, nan_at(TRAIN_UP_FROM_5, 8), 8),
]


@pytest.mark.parametrize(
    ("val_loss", "train_loss", "expected"),
    [r[1:] for r in TRAIN_LOSS_ROWS],
    ids=[r[0] for r in TRAIN_LOSS_ROWS],
)
def test_val_loss_rule_needs_train_loss_still_falling(val_loss, train_loss, expected):
    study = optuna.create_study(direction="maximize", pruner=OverfittingPruner())
    curves = make_curves(val_loss, RISING_TOP1, SMALL_GAP)
    curves["train_probe_loss"] = train_loss
    assert run_trial(study, curves) == expected


def test_a_ragged_train_loss_is_ignored():
    curves = make_curves(U_LOSS[:8], RISING_TOP1[:8], SMALL_GAP[:8])
    curves["train_probe_loss"] = TRAIN_UP_FROM_5[:7]  # one epoch short: not read
    assert overfitting_reason(curves, OverfitRule()) == (
        "overfitting: val loss rose 3 epochs (2.000 → 2.200), gap 0.05"
    )
    curves["train_probe_loss"] = TRAIN_UP_FROM_5[:8]
    assert overfitting_reason(curves, OverfitRule()) is None


@pytest.mark.parametrize(
    ("settings", "series", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_which_epoch_prunes(settings: dict, series: tuple, expected: int | None):
    study = optuna.create_study(direction="maximize", pruner=OverfittingPruner(**settings))
    reasons: list = []
    assert run_trial(study, make_curves(*series), reasons) == expected
    if expected is not None:
        assert reasons[0].startswith("overfitting: ")
        assert study.trials[0].user_attrs[records.PRUNE_REASON] == reasons[0]


@pytest.mark.parametrize(
    "curves",
    [
        {},
        {"val_loss": [1.0]},
        {"val_loss": "abc", "gap": 0.5},
        {"val_loss": [1.0, 2.0, 3.0, 4.0, None]},  # None (JSON's NaN) at the latest epoch
        {"val_loss": [1.0, "x", 3.0, 4.0, 5.0]},
        {"val_top1": [0.5] * 6, "gap": [0.9] * 5},  # ragged lists
    ],
    ids=["empty", "short", "malformed", "none-latest", "non-number", "ragged"],
)
def test_missing_short_or_malformed_curves_never_prune(curves: dict):
    assert overfitting_reason(curves, OverfitRule()) is None


def test_trial_without_curves_is_not_pruned():
    study = optuna.create_study(direction="maximize", pruner=OverfittingPruner(warmup_epochs=0))
    trial = study.ask()
    for epoch in range(1, 8):
        trial.report(0.1, epoch)
        assert not trial.should_prune()
    trial.set_user_attr("curves", "not a mapping")
    assert not trial.should_prune()


def test_reason_texts_carry_the_numbers():
    rule = OverfitRule()
    loss = overfitting_reason(make_curves(U_LOSS[:8], RISING_TOP1[:8], SMALL_GAP[:8]), rule)
    assert loss == "overfitting: val loss rose 3 epochs (2.000 → 2.200), gap 0.05"
    gap = overfitting_reason(make_curves(FALLING_LOSS[:7], FLAT_TOP1[:7], BIG_GAP[:7]), rule)
    assert gap == (
        "overfitting: gap 0.50 > 0.30 and val top-1 flat for 3 epochs (best 0.350 at epoch 4)"
    )
    # With min_delta, small gains still count as flat, and the text says how small.
    creeping = [0.30, 0.33, 0.35, 0.36, 0.37, 0.36, 0.37]
    lenient = OverfitRule(min_delta=0.02)
    assert overfitting_reason(make_curves(FALLING_LOSS[:7], creeping, BIG_GAP[:7]), lenient) == (
        "overfitting: gap 0.50 > 0.30 and val top-1 no more than 0.02 above its best for 3 epochs"
        " (best 0.360 at epoch 4)"
    )
    # The epoch label comes from the curves' own epoch numbers when they have them.
    shifted = make_curves(FALLING_LOSS[:7], FLAT_TOP1[:7], BIG_GAP[:7])
    shifted["epoch"] = [e + 10 for e in shifted["epoch"]]
    assert "(best 0.350 at epoch 14)" in str(overfitting_reason(shifted, rule))


def test_wrapped_median_prunes_a_bad_trial_after_startup_trials():
    pruner = OverfittingPruner(wrapped=rule("median", n_startup_trials=3, n_warmup_steps=2))
    study = optuna.create_study(direction="maximize", pruner=pruner)
    bad = make_curves(FALLING_LOSS, [0.05, 0.06, 0.07, 0.08, 0.09] * 2, SMALL_GAP)
    assert run_trial(study, bad) is None  # no completed trials yet: the median has no say
    for _ in range(2):
        assert run_trial(study, make_curves(FALLING_LOSS, RISING_TOP1, SMALL_GAP)) is None
    reasons: list = []
    assert run_trial(study, bad, reasons) == 2  # n_warmup_steps=2: epoch 2 is the first
    assert overfitting_reason(bad, OverfitRule()) is None  # the overfitting rules stay silent
    assert reasons == [
        "below the median of earlier trials at epoch 2 (val top-1 0.060 < median 0.200)"
    ]
    # The stored trial keeps the decision the pruner made: its text and its kind.
    attrs = study.trials[-1].user_attrs
    assert (attrs[records.PRUNE_REASON], attrs[records.STOP_KIND]) == (reasons[0], "median")


def test_rules_ignore_direction_and_the_wrapped_median_follows_it():
    pruner = OverfittingPruner(wrapped=rule("median", n_startup_trials=1, n_warmup_steps=2))
    study = optuna.create_study(direction="minimize", pruner=pruner)
    # Reported as an error rate here: lower is better, 0.2 is the earlier trial's median.
    assert run_trial(study, make_curves(FALLING_LOSS, [0.2] * 10, SMALL_GAP)) is None
    reasons: list = []
    assert run_trial(study, make_curves(FALLING_LOSS, [0.9] * 10, SMALL_GAP), reasons) == 2
    assert reasons == [
        "above the median of earlier trials at epoch 2 (val top-1 0.900 > median 0.200)"
    ]
    assert run_trial(study, make_curves(U_LOSS, [0.1] * 10, SMALL_GAP)) == 8  # val loss rule
    assert study.trials[-1].user_attrs[records.STOP_KIND] == "overfitting"


@pytest.mark.parametrize(
    ("top1", "pruned_at", "reason"),
    [
        ([0.05] * 10, 3, "val top-1 0.050 below the floor 0.15 at epoch 3"),  # not learning
        ([0.10, 0.12] + [0.30] * 8, None, None),  # under the floor only during warm-up
        ([0.3] * 5 + [0.1] * 5, 6, "val top-1 0.100 below the floor 0.15 at epoch 6"),
        ([0.3, 0.35, 0.95] + [0.4] * 7, 3, "val top-1 0.950 above the ceiling 0.9 at epoch 3"),
    ],
)
def test_wrapped_threshold_floor_with_its_reason(
    top1: list[float], pruned_at: int | None, reason: str | None
) -> None:
    # The demo space's wrapped pruner: a fixed floor, blind to other trials.
    pruner = OverfittingPruner(wrapped=rule("threshold", lower=0.15, upper=0.9, n_warmup_steps=3))
    study = optuna.create_study(direction="maximize", pruner=pruner)
    reasons: list = []
    assert run_trial(study, make_curves(FALLING_LOSS, top1, SMALL_GAP), reasons) == pruned_at
    assert reasons == ([reason] if reason else [])


def test_a_stateful_wrapped_pruner_is_asked_once_and_its_decision_kept():
    # Hyperband records rung state as it decides: asked again it could answer otherwise.
    hyperband = rule("hyperband", min_resource=1, max_resource=9, reduction_factor=3)
    assert isinstance(hyperband, OptunaRule)
    asked: list[tuple[int, int | None]] = []
    original = hyperband.pruner.prune

    def counting(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        asked.append((trial.number, trial.last_step))
        return original(study, trial)

    hyperband.pruner.prune = counting  # type: ignore[method-assign]
    pruner = OverfittingPruner(wrapped=hyperband)
    # A fixed name: Hyperband picks each trial's bracket from a hash of it.
    study = optuna.create_study(direction="maximize", pruner=pruner, study_name="hyperband")
    for _ in range(6):
        run_trial(study, make_curves(FALLING_LOSS, RISING_TOP1, SMALL_GAP))
    reasons: list = []
    bad = make_curves(FALLING_LOSS, [0.01] * 10, SMALL_GAP)
    # A bad trial alone in its bracket is promoted: try a few until one meets competition.
    assert any(run_trial(study, bad, reasons) is not None for _ in range(6))
    assert reasons[0].startswith("not promoted by successive halving at epoch ")
    attrs = study.trials[-1].user_attrs
    assert (attrs[records.PRUNE_REASON], attrs[records.STOP_KIND]) == (reasons[0], "hyperband")
    assert len(asked) == len(set(asked)) > 0  # once per trial and step
    assert pruner.take(study, study.trials[-1].number) is None  # the objective took it


def test_reason_is_none_when_nothing_prunes():
    pruner = OverfittingPruner(wrapped=rule("median", n_startup_trials=0))
    study = optuna.create_study(direction="maximize", pruner=pruner)
    assert run_trial(study, make_curves(FALLING_LOSS, RISING_TOP1, SMALL_GAP)) is None
    assert pruner.decide(study, study.trials[-1]) is None
    assert pruner.take(study, study.trials[-1].number) is None
    assert records.PRUNE_REASON not in study.trials[-1].user_attrs


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"warmup_epochs": -1}, "warmup_epochs.*-1"),
        ({"warmup_epochs": 1.5}, "warmup_epochs.*1.5"),
        ({"warmup_epochs": "2"}, "warmup_epochs.*'2'"),
        ({"patience": 0}, "patience.*0"),
        ({"patience": True}, "patience.*True"),
        ({"min_delta": -0.1}, "min_delta.*-0.1"),
        ({"min_delta": NAN}, "min_delta.*nan"),
        ({"min_delta": math.inf}, "min_delta.*inf"),
        ({"gap_threshold": 0.0}, r"gap_threshold.*0\.0"),
        ({"gap_threshold": 1.5}, "gap_threshold.*1.5"),
        ({"gap_threshold": NAN}, "gap_threshold.*nan"),
        ({"curves_key": ""}, "curves_key.*''"),
    ],
)
def test_bad_settings_are_refused_at_once(kwargs: dict, match: str):
    with pytest.raises(ValueError, match=match):
        OverfittingPruner(**kwargs)


def test_wrapped_must_be_a_pruner():
    with pytest.raises(TypeError, match="wrapped.*'median'"):
        OverfittingPruner(wrapped="median")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "cls", "kind", "expected"),
    [
        ({"type": "median"}, MedianPruner, "median", {"n_startup_trials": 5}),
        (
            {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 2, "interval_steps": 2},
            MedianPruner,
            "median",
            {"n_startup_trials": 3, "n_warmup_steps": 2, "interval_steps": 2},
        ),
        (
            {"type": "percentile", "percentile": 25.0},
            PercentilePruner,
            "percentile",
            {"percentile": 25.0},
        ),
        (
            {"type": "hyperband", "min_resource": 2, "max_resource": 30, "reduction_factor": 2},
            HyperbandPruner,
            "hyperband",
            {"min_resource": 2, "max_resource": 30, "reduction_factor": 2},
        ),
        (
            {"type": "patient", "patience": 4},
            PatientPruner,
            "patient",
            {"patience": 4, "wrapped_pruner": None},
        ),
        (
            {"type": "threshold", "lower": 0.05},
            ThresholdPruner,
            "threshold",
            {"lower": 0.05, "upper": None},
        ),
        ({"type": "none"}, NopPruner, "nop", {}),
        ({"type": "Nop"}, NopPruner, "nop", {}),
    ],
)
def test_build_optuna_pruners(settings: dict, cls: type, kind: str, expected: dict):
    # The settings the rule keeps, Optuna's defaults included, are what its texts read.
    pruner = build_pruner(settings)
    assert isinstance(pruner, OptunaRule) and type(pruner.pruner) is cls
    assert pruner.kind == kind
    assert pruner.settings is not None and expected.items() <= pruner.settings.items()


def test_build_overfitting_and_default():
    default = build_pruner(None)
    assert isinstance(default, OverfittingPruner)
    assert default.rule == OverfitRule(
        warmup_epochs=2, patience=3, min_delta=0.0, gap_threshold=0.3
    )
    wrapped = default.wrapped
    assert isinstance(wrapped, OptunaRule) and type(wrapped.pruner) is MedianPruner
    assert wrapped.settings is not None
    assert {"n_startup_trials": 3, "n_warmup_steps": 2}.items() <= wrapped.settings.items()

    pruner = build_pruner(
        {
            "type": "overfitting",
            "warmup_epochs": 4,
            "patience": 2,
            "min_delta": 0.01,
            "gap_threshold": None,
            "curves_key": "history",
            "wrapped": {"type": "patient", "patience": 2, "wrapped": {"type": "median"}},
        }
    )
    assert isinstance(pruner, OverfittingPruner)
    assert pruner.rule == OverfitRule(4, 2, 0.01, None)
    assert pruner.curves_key == "history"
    patient = pruner.wrapped
    assert isinstance(patient, OptunaRule) and type(patient.pruner) is PatientPruner
    assert patient.settings is not None
    inner = patient.settings["wrapped_pruner"]
    assert isinstance(inner, OptunaRule) and type(inner.pruner) is MedianPruner
    assert build_pruner({"type": "overfitting"}).wrapped is None


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"type": "sometimes"}, r"unknown pruner type 'sometimes'.*hyperband, median, none"),
        ({"n_startup_trials": 3}, r"missing 'type'.*overfitting"),
        ("median", r"expected a mapping"),
        ({"type": "median", "n_startup": 3}, r"unknown key 'n_startup'.*n_startup_trials"),
        (
            {"type": "overfitting", "wrapped": {"type": "median", "patience": 3}},
            r"pruner\.wrapped: unknown key 'patience' for type 'median'",
        ),
        ({"type": "overfitting", "wrapped": {"type": "bogus"}}, r"pruner\.wrapped\.type"),
        ({"type": "none", "patience": 3}, r"unknown key 'patience'.*valid: none"),
        ({"type": "percentile"}, r"type 'percentile' needs 'percentile'"),
        ({"type": "threshold"}, r"pruner \(threshold\)"),  # Optuna's TypeError, as ValueError
        ({"type": "median", "n_startup_trials": -1}, r"pruner \(median\).*-1"),  # Optuna's check
        ({"type": "overfitting", "patience": 0}, r"pruner \(overfitting\): patience.*0"),
    ],
)
def test_build_pruner_refuses_bad_settings(settings: Any, match: str):
    with pytest.raises(ValueError, match=match):
        build_pruner(settings)


# The baseline is the reference for every effect: the bad-trial rules (a floor, the median,
# Hyperband) never stop it, whether they are wrapped by the overfitting pruner or the study's
# pruner themselves. Only the overfitting rules may, and that is early stopping.
NOT_LEARNING = [0.01] * 10


def _bad_trial_pruners() -> list[tuple[str, Any]]:
    return [
        ("median", lambda: MedianPruner(n_startup_trials=1, n_warmup_steps=2)),
        ("threshold", lambda: ThresholdPruner(lower=0.15, n_warmup_steps=2)),
        ("floor", lambda: FloorPruner(chance_multiple=3, n_warmup_steps=2)),
        ("hyperband", lambda: HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3)),
        # As a space builds them: deciders that know their settings.
        ("built median", lambda: rule("median", n_startup_trials=1, n_warmup_steps=2)),
        ("built threshold", lambda: rule("threshold", lower=0.15, n_warmup_steps=2)),
    ]


BASELINE_ROWS = [
    (f"{wrap}{name}", factory, wrap)
    for name, factory in _bad_trial_pruners()
    for wrap in ("", "overfitting+")
]


@pytest.mark.parametrize(
    ("factory", "wrap"), [r[1:] for r in BASELINE_ROWS], ids=[r[0] for r in BASELINE_ROWS]
)
def test_baseline_is_never_pruned_as_a_bad_trial(factory: Any, wrap: str) -> None:
    pruner = OverfittingPruner(wrapped=factory()) if wrap else factory()
    # A fixed name: Hyperband picks each trial's bracket from a hash of it.
    study = optuna.create_study(direction="maximize", pruner=pruner, study_name="baseline")
    study.set_user_attr("classes", 121)
    for _ in range(3):
        run_trial(study, make_curves(FALLING_LOSS, RISING_TOP1, SMALL_GAP))
    bad = make_curves(FALLING_LOSS, NOT_LEARNING, SMALL_GAP)
    assert run_trial(study, bad, baseline=True) is None
    assert study.trials[-1].state == TrialState.COMPLETE
    # The same curve, not the baseline: pruned (Hyperband: by the time a few have tried).
    assert any(run_trial(study, bad) is not None for _ in range(6))


def test_baseline_is_still_stopped_early_for_overfitting() -> None:
    floor = FloorPruner(chance_multiple=3, n_warmup_steps=2)
    study = optuna.create_study(direction="maximize", pruner=OverfittingPruner(wrapped=floor))
    reasons: list = []
    assert (
        run_trial(study, make_curves(U_LOSS, RISING_TOP1, SMALL_GAP), reasons, baseline=True) == 8
    )
    assert reasons == ["overfitting: val loss rose 3 epochs (2.000 → 2.200), gap 0.05"]
