"""The stop decision: each pruner's (kind, text), recorded once when it decides, and the
objective that branches on the kind, on real in-memory studies and a real tiny training run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.pruners import MedianPruner, ThresholdPruner
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from study import records
from study.pruners.anyof import AnyOfPruner
from study.pruners.decision import OVERFITTING, Decider, Decision
from study.pruners.optuna_rules import OptunaRule
from study.pruners.overfitting import OverfittingPruner
from study.pruners.registry import build_pruner
from study.run.objective import Objective
from study.space.load import load_space
from tests.study.helpers import write_space
from tests.study.pruners.helpers import FALLING_LOSS, SMALL_GAP, make_curves, rule, run_trial
from vitlab.config import DataConfig
from vitlab.dataset import load_dataset

optuna.logging.set_verbosity(optuna.logging.WARNING)
# PatientPruner is experimental in Optuna; building one warns.
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

GOOD = [0.30, 0.34, 0.36, 0.38, 0.40, 0.41, 0.42, 0.43, 0.44, 0.45]
MEDIOCRE = [0.30, 0.31, 0.32, 0.33, 0.34, 0.35, 0.36, 0.37, 0.38, 0.39]
NOT_LEARNING = [0.05, 0.08, 0.09, 0.10, 0.11, 0.12, 0.12, 0.13, 0.13, 0.14]
U_LOSS = [3.0, 2.6, 2.3, 2.1, 2.0, 2.05, 2.1, 2.2, 2.3, 2.4]
FLAT_TOP1 = [0.10, 0.20, 0.30, 0.35, 0.35, 0.34, 0.35, 0.35, 0.34, 0.35]
BIG_GAP = [0.05, 0.10, 0.20, 0.30, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65]
FELL_BACK = [0.40, 0.30, 0.32, 0.35] + [0.2] * 6  # best at epoch 1, never reached again


def good() -> dict[str, list]:
    return make_curves(FALLING_LOSS, GOOD, SMALL_GAP)


def top1(values: list[float]) -> dict[str, list]:
    return make_curves(FALLING_LOSS, values, SMALL_GAP)


DECISIONS: list[tuple[str, Any, list, dict, int, str, str]] = [
    # id, pruner (settings or factory), finished trials before (curves or ("baseline", curves)),
    # the trial's curves, epoch it stops, kind, text
    (
        "overfitting: val loss",
        {"type": "overfitting"},
        [],
        make_curves(U_LOSS, GOOD, SMALL_GAP),
        8,
        "overfitting",
        "overfitting: val loss rose 3 epochs (2.000 → 2.200), gap 0.05",
    ),
    (
        "overfitting: gap",
        {"type": "overfitting"},
        [],
        make_curves(FALLING_LOSS, FLAT_TOP1, BIG_GAP),
        7,
        "overfitting",
        "overfitting: gap 0.50 > 0.30 and val top-1 flat for 3 epochs (best 0.350 at epoch 4)",
    ),
    (
        "floor: half the baseline",
        {"type": "floor", "baseline_fraction": 0.5, "n_warmup_steps": 3},
        [("baseline", good())],
        top1(NOT_LEARNING),
        3,
        "floor",
        "val top-1 0.090 below half the baseline's 0.360 at epoch 3",
    ),
    (
        "median",
        {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 2},
        [good(), good()],
        top1(MEDIOCRE),
        2,
        "median",
        "below the median of earlier trials at epoch 2 (val top-1 0.310 < median 0.340)",
    ),
    (
        "percentile: the cut and the share kept",
        {"type": "percentile", "percentile": 25.0, "n_startup_trials": 2, "n_warmup_steps": 2},
        [good(), top1(MEDIOCRE)],
        top1([0.30, 0.32] + [0.5] * 8),
        2,
        "percentile",
        "below the cut that keeps the best 25 % of earlier trials at epoch 2"
        " (val top-1 0.320 < cut 0.333)",
    ),
    (
        "hyperband",
        {"type": "hyperband", "min_resource": 1, "max_resource": 9, "reduction_factor": 3},
        [good()] * 5,
        top1([0.01] * 10),
        3,
        "hyperband",
        "not promoted by successive halving at epoch 3 (val top-1 0.010)",
    ),
    (
        "threshold: its lower bound",
        {"type": "threshold", "lower": 0.15, "n_warmup_steps": 3},
        [],
        top1(NOT_LEARNING),
        3,
        "threshold",
        "val top-1 0.090 below the floor 0.15 at epoch 3",
    ),
    (
        "threshold: its upper bound",
        {"type": "threshold", "upper": 0.9},
        [],
        top1([0.3, 0.95] + [0.4] * 8),
        2,
        "threshold",
        "val top-1 0.950 above the ceiling 0.9 at epoch 2",
    ),
    (
        "threshold: NaN",
        {"type": "threshold", "lower": 0.15},
        [],
        top1([0.3, math.nan] + [0.4] * 8),
        2,
        "threshold",
        "val top-1 nan outside the threshold at epoch 2",
    ),
    (
        "patient",
        {"type": "patient", "patience": 2},
        [],
        top1(FELL_BACK),
        4,
        "patient",
        "val top-1 under its earlier best 0.400 for 3 epochs at epoch 4 (val top-1 0.350)",
    ),
    (
        "patient, then its wrapped threshold",
        {"type": "patient", "patience": 2, "wrapped": {"type": "threshold", "lower": 0.38}},
        [],
        top1(FELL_BACK),
        4,
        "patient",
        "val top-1 under its earlier best 0.400 for 3 epochs at epoch 4 (val top-1 0.350);"
        " val top-1 0.350 below the floor 0.38 at epoch 4",
    ),
    (
        "any: the member that fired",
        {
            "type": "any",
            "pruners": [
                {"type": "median", "n_startup_trials": 1},
                {"type": "threshold", "lower": 0.15, "n_warmup_steps": 3},
            ],
        },
        [],
        top1(NOT_LEARNING),
        3,
        "threshold",
        "val top-1 0.090 below the floor 0.15 at epoch 3",
    ),
    (
        "overfitting, wrapped threshold",
        {"type": "overfitting", "wrapped": {"type": "threshold", "lower": 0.15}},
        [],
        top1(NOT_LEARNING),
        1,
        "threshold",
        "val top-1 0.050 below the floor 0.15 at epoch 1",
    ),
    (
        "a plain Optuna pruner: generic text",
        lambda: ThresholdPruner(lower=0.15, n_warmup_steps=3),
        [],
        top1(NOT_LEARNING),
        3,
        "threshold",
        "pruned by ThresholdPruner at epoch 3 (val top-1 0.090)",
    ),
    (
        "a plain Optuna pruner, wrapped: generic text",
        lambda: OverfittingPruner(wrapped=MedianPruner(n_startup_trials=2, n_warmup_steps=2)),
        [good(), good()],
        top1(MEDIOCRE),
        2,
        "median",
        "pruned by MedianPruner at epoch 2 (val top-1 0.310)",
    ),
]


def make(pruner: Any) -> optuna.pruners.BasePruner:
    return build_pruner(pruner) if isinstance(pruner, dict) else pruner()


@pytest.mark.parametrize(
    ("pruner", "before", "curves", "epoch", "kind", "text"),
    [r[1:] for r in DECISIONS],
    ids=[r[0] for r in DECISIONS],
)
def test_each_pruner_s_decision(pruner, before, curves, epoch, kind, text) -> None:
    # A fixed name: Hyperband picks each trial's bracket from a hash of it.
    study = optuna.create_study(direction="maximize", pruner=make(pruner), study_name="decisions")
    for earlier in before:
        baseline = isinstance(earlier, tuple)
        assert run_trial(study, earlier[1] if baseline else earlier, baseline=baseline) is None
    reasons: list[str] = []
    assert run_trial(study, curves, reasons) == epoch
    attrs = study.trials[-1].user_attrs
    assert (attrs[records.STOP_KIND], attrs[records.PRUNE_REASON]) == (kind, text)
    assert reasons == [text]


# One row per type the registry builds: each is asked exactly once per trial and step, inside
# the demo's shape (the overfitting rules, then any-of), with no pruner asked again for a reason.
ONCE = [
    ("median", {"n_startup_trials": 1, "n_warmup_steps": 2}),
    ("percentile", {"percentile": 50.0, "n_startup_trials": 1}),
    ("hyperband", {"min_resource": 1, "max_resource": 9, "reduction_factor": 3}),
    ("threshold", {"lower": 0.2, "n_warmup_steps": 2}),
    ("patient", {"patience": 1}),
    ("floor", {"chance_multiple": 3, "n_warmup_steps": 2}),
]


@pytest.mark.parametrize(("kind", "settings"), ONCE, ids=[r[0] for r in ONCE])
def test_each_rule_is_asked_once_per_step(kind: str, settings: dict) -> None:
    member = rule(kind, **settings)
    asked: list[tuple[int, int | None]] = []
    # An Optuna rule: count its Optuna pruner's calls; our own rules: their decisions.
    target: Any = member.pruner if isinstance(member, OptunaRule) else member
    name = "prune" if isinstance(member, OptunaRule) else "decide"
    original = getattr(target, name)

    def counting(study: Study, trial: FrozenTrial) -> Any:
        asked.append((trial.number, trial.last_step))
        return original(study, trial)

    setattr(target, name, counting)
    pruner = OverfittingPruner(wrapped=AnyOfPruner([member]))
    study = optuna.create_study(direction="maximize", pruner=pruner, study_name="once")
    study.set_user_attr(records.CLASSES, 121)
    for curves in (good(), good(), top1(FELL_BACK), top1([0.001] * 10), good()):
        run_trial(study, curves)
    expected = [(t.number, s) for t in study.trials for s in sorted(t.intermediate_values)]
    assert asked == expected
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, "a row that prunes nothing tests only the no-decision path"
    assert {t.user_attrs[records.STOP_KIND] for t in pruned} == {kind}


class Planted(Decider):
    """A decider that stops every trial at its first step with ``decision``, counting asks."""

    def __init__(self, decision: Decision) -> None:
        super().__init__()
        self.decision, self.asked = decision, 0

    def decide(self, study: Study, trial: FrozenTrial) -> Decision | None:
        self.asked += 1
        return self.decision


def test_a_recorded_decision_is_taken_once_and_a_no_clears_it() -> None:
    planted = Planted(Decision("floor", "planted"))
    study = optuna.create_study(direction="maximize", pruner=planted)
    trial = study.ask()
    trial.report(0.1, 1)
    assert trial.should_prune()
    assert planted.take(study, trial.number) == Decision("floor", "planted")
    assert planted.take(study, trial.number) is None
    assert trial.should_prune()
    planted.decision = None  # type: ignore[assignment]
    trial.report(0.2, 2)
    assert not trial.should_prune()
    assert planted.take(study, trial.number) is None  # the yes at epoch 1 is not left over
    assert planted.asked == 3


@pytest.mark.parametrize(
    ("kind", "text", "match"),
    [
        ("", "x", "kind.*''"),
        (None, "x", "kind.*None"),
        ("floor", "", "text.*''"),
        ("floor", 3, "text.*3"),
    ],
)
def test_bad_decisions_are_refused(kind: Any, text: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Decision(kind, text)


@pytest.mark.parametrize(
    ("kind", "pruner", "error", "match"),
    [
        ("", MedianPruner(), ValueError, "kind.*''"),
        ("median", "median", TypeError, "optuna pruner.*'median'"),
        ("any", Planted(Decision("floor", "x")), TypeError, "optuna pruner.*Planted"),
    ],
)
def test_bad_optuna_rules_are_refused(kind: Any, pruner: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        OptunaRule(kind, pruner)


@pytest.fixture(scope="module")
def tiny_objective(tiny_manifest: Path, cache_root: Path, tmp_path_factory) -> Objective:
    space = load_space(write_space(tmp_path_factory.mktemp("space"), trials=1, epochs=2))
    data = DataConfig(manifest=str(tiny_manifest), cache_root=str(cache_root))
    return Objective(space, load_dataset(data, image_size=16, progress=False), device="cpu")


OBJECTIVE_ROWS = [
    # id, the study's pruner, state, kind, text (a prefix for the generic text)
    (
        "overfitting kind: early stopping",
        lambda: Planted(Decision(OVERFITTING, "overfitting: planted")),
        TrialState.COMPLETE,
        "overfitting",
        "overfitting: planted",
    ),
    (
        "a floor whose text reads like overfitting: pruned",
        lambda: Planted(Decision("floor", "overfitting: only in the words")),
        TrialState.PRUNED,
        "floor",
        "overfitting: only in the words",
    ),
    (
        "a plain Optuna pruner: pruned, generic text",
        lambda: ThresholdPruner(lower=1.0),
        TrialState.PRUNED,
        "threshold",
        "pruned by ThresholdPruner at epoch 1 (val top-1 ",
    ),
]


@pytest.mark.parametrize(
    ("pruner", "state", "kind", "text"),
    [r[1:] for r in OBJECTIVE_ROWS],
    ids=[r[0] for r in OBJECTIVE_ROWS],
)
def test_the_objective_branches_on_the_kind(tiny_objective, pruner, state, kind, text) -> None:
    study = optuna.create_study(direction="maximize", pruner=pruner())
    study.optimize(tiny_objective, n_trials=1, callbacks=[tiny_objective.finished])
    trial = study.trials[0]
    attrs = trial.user_attrs
    assert trial.state == state and attrs[records.EPOCHS_RUN] == 1
    assert attrs[records.STOP_KIND] == kind and attrs[records.PRUNE_REASON].startswith(text)
    if state == TrialState.COMPLETE:  # early stopping: scored at its best epoch
        assert attrs[records.STOPPED_EARLY] is True
        assert trial.value == attrs[records.BEST]["val_top1"]
        assert attrs[records.ENDED] == f"stopped early: {attrs[records.PRUNE_REASON]}"
    else:
        assert records.STOPPED_EARLY not in attrs
        assert attrs[records.ENDED] == f"pruned: {attrs[records.PRUNE_REASON]}"
    if isinstance(study.pruner, Planted):
        assert study.pruner.asked == 1  # asked once; the objective took what it recorded
        assert study.pruner.take(study, trial.number) is None
