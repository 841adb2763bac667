"""Section 3 on a hand-built real Optuna study (every number hand-computed), on planted studies
and on the edge cases every section must survive."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from study import records
from study.analysis.audit import Sampled, get_audit_info
from study.analysis.diagnostics import (
    Curve,
    DiagnosticsInfo,
    GapBand,
    KindCount,
    TrialDiagnosis,
    draw_diagnostics,
    get_diagnostics_info,
)
from study.analysis.failure import classify, epochs_from_curves
from study.analysis.inputs import ReportInputs
from study.analysis.planted import Planted, planted_inputs
from study.analysis.pruner_bias import Bucket, ParamBias, StopGroup, wilson
from study.frame import trials_frame
from study.records import StudyRecord

LR = FloatDistribution(0.01, 1.0)
MODEL = CategoricalDistribution(["a", "b"])
SPACE = {
    "params": {
        "lr": {"type": "float", "low": 0.01, "high": 1.0, "role": "scientific"},
        "model": {"type": "categorical", "choices": ["a", "b"], "role": "nuisance"},
    }
}
ROLES = {"lr": "scientific", "model": "nuisance"}


def curves(tl, vl, v1, t1, gap=None) -> dict:
    c = {"epoch": list(range(1, len(tl) + 1)), "train_loss": tl, "val_loss": vl}
    c |= {"val_top1": v1, "train_top1": t1}
    return c if gap is None else c | {"gap": gap}


# Trial number -> its curves: 0 overfits, 1 is healthy, 2 has val at chance, 3 (no gap curve:
# train - val top-1 is used) is healthy.
CURVES = {
    0: curves([2.0, 1.5, 1.0], [2.0, 1.8, 2.0], [0.4, 0.5, 0.45], [0.5, 0.7, 0.9],
              [0.125, 0.25, 0.5]),
    1: curves([2.0, 1.6, 1.3], [2.0, 1.7, 1.5], [0.4, 0.5, 0.6], [0.5, 0.6, 0.7], [0.125] * 3),
    2: curves([1.0], [2.5], [0.1], [0.6], [0.5]),
    3: curves([1.9, 1.5], [2.0, 1.6], [0.4375, 0.5625], [0.5, 0.625]),
}  # fmt: skip


def trial(number_attrs: dict, state=TrialState.COMPLETE, value=None, lr=0.1, model="a"):
    return create_trial(
        state=state,
        value=value,
        params={"lr": lr, "model": model},
        distributions={"lr": LR, "model": MODEL},
        user_attrs=number_attrs,
    )


def hand_built(reason: str = "below the floor", name: str = "hand") -> ReportInputs:
    study = optuna.create_study(direction="maximize", study_name=name)
    attrs = {n: {records.CURVES: c} for n, c in CURVES.items()}
    attrs[0] |= {records.BASELINE: True, records.BEST_EPOCH: 2}
    attrs[1] |= {records.BEST_EPOCH: 3}
    attrs[2] |= {records.STOP_KIND: "floor", records.PRUNE_REASON: reason}
    attrs[3] |= {records.STOP_KIND: "overfitting", records.STOPPED_EARLY: True}
    attrs[3] |= {records.PRUNE_REASON: "val loss rose 3 epochs", records.BEST_EPOCH: 2}
    study.add_trial(trial(attrs[0], value=0.5, lr=0.1, model="a"))
    study.add_trial(trial(attrs[1], value=0.6, lr=0.2, model="b"))
    study.add_trial(trial(attrs[2], state=TrialState.PRUNED, lr=0.3, model="a"))
    study.add_trial(trial(attrs[3], value=0.55, lr=0.4, model="b"))
    study.add_trial(trial({}, state=TrialState.FAIL, lr=0.45, model="b"))
    study.add_trial(trial({}, value=0.3, lr=0.5, model="a"))  # finished, no curves
    running = study.ask({"lr": LR, "model": MODEL})  # RUNNING, with curves: not judged
    running.set_user_attr(records.CURVES, CURVES[2])
    record = StudyRecord(classes=[f"c{i}" for i in range(10)], space=SPACE, roles=ROLES)
    return ReportInputs(study_name=name, frame=trials_frame(study), study=record)


def empty_curve(number: int, label: str) -> Curve:
    return Curve(number, label, (), (), (), (), (), (), None)


def test_info_of_a_hand_built_study():
    def curve(n: int, label: str, best: int) -> Curve:
        c = CURVES[n]
        gap = c.get("gap") or [t - v for t, v in zip(c["train_top1"], c["val_top1"], strict=True)]
        return Curve(n, label, tuple(c["epoch"]), tuple(c["train_top1"]), tuple(c["val_top1"]),
                     tuple(c["train_loss"]), tuple(c["val_loss"]), tuple(gap), best)  # fmt: skip

    def diagnosis(n: int):
        return classify(epochs_from_curves(CURVES[n]), 10)

    assert get_diagnostics_info(hand_built()) == DiagnosticsInfo(
        classes=10,
        judged=4,
        kinds=(
            KindCount("val_at_chance", 1, (2,)),
            KindCount("overfitting", 1, (0,)),
            KindCount("healthy", 2, (1, 3)),
        ),
        shown=(
            TrialDiagnosis(0, "baseline", diagnosis(0)),
            TrialDiagnosis(1, "best", diagnosis(1)),
        ),
        # prediction_trials: the top trials by value (the baseline among them is third)
        curves=(
            curve(1, "best", 3),
            curve(3, "2nd", 2),
            curve(0, "baseline (3rd)", 2),
            empty_curve(5, "4th"),
        ),
        gap=(
            GapBand(1, 3, median=0.125, low=0.09375, high=0.125),
            GapBand(2, 3, median=0.125, low=0.09375, high=0.1875),
            GapBand(3, 2, median=0.3125, low=0.21875, high=0.40625),
        ),
        stops=(
            StopGroup("floor", 1, pruned=1, stopped_early=0, examples=("below the floor",)),
            StopGroup("overfitting", 1, 0, 1, ("val loss rose 3 epochs",)),
        ),
        # Ended: trials 0, 1, 2, 3 and 5; stopped: 2 (pruned, lr 0.3) and 3 (early, lr 0.4).
        stopped_share=Bucket("all trials", 5, 2, wilson(2, 5)),
        bias=(
            ParamBias(
                "lr",
                "scientific",
                (
                    Bucket("[0.1, 0.2)", 1, 0, wilson(0, 1)),
                    Bucket("[0.2, 0.3)", 1, 0, wilson(0, 1)),
                    Bucket("[0.3, 0.4)", 1, 1, wilson(1, 1)),
                    Bucket("[0.4, 0.5]", 2, 1, wilson(1, 2)),
                ),
            ),
            ParamBias(
                "model",
                "nuisance",
                (Bucket("a", 3, 1, wilson(1, 3)), Bucket("b", 2, 1, wilson(1, 2))),
            ),
        ),
        audit=get_audit_info(hand_built()),  # not audited: the two stopped trials to rerun
    )  # fmt: skip
    # (no trial recorded its planned epochs: the budget is unknown, 0)
    assert get_audit_info(hand_built()).sample == (
        Sampled(2, "floor", 0),
        Sampled(3, "overfitting", 0),
    )


def test_the_kinds_it_counts_are_the_classifiers():
    info = get_diagnostics_info(hand_built())
    assert info.shown[0].diagnosis.kind == "overfitting"
    assert info.shown[1].diagnosis.kind == "healthy"


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(0, 1, 0.0, 0.7935), (1, 2, 0.0945, 0.9055), (2, 5, 0.1176, 0.7693), (5, 5, 0.5655, 1.0)],
)
def test_wilson_interval(k, n, low, high):
    share = wilson(k, n)
    assert share.estimate == k / n
    assert share.low == pytest.approx(low, abs=1e-4) and share.high == pytest.approx(high, abs=1e-4)


def test_draw_contains_the_key_text_and_escapes():
    bad = "<script>alert('x')</script>"
    html = draw_diagnostics(get_diagnostics_info(hand_built(reason=bad, name=bad)))
    # (plotly's own <script> tags draw the figures; the user's string is never one)
    assert bad not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    for text in (
        "What kind of failure is this?",
        "1 of 4 trials have val at chance while train learns",
        "baseline (trial #0): overfitting: val loss turned up after epoch 2",
        "best (trial #1): healthy",
        'id="diagnostics-curves"',
        'id="diagnostics-gap"',
        "stopped early",
        "[0.4, 0.5]",
        "50.0 % (9.5 % to 90.5 %)",  # a bucket of 2: its share with its interval
        "What the pruner threw away: the audit",
        "Not audited yet: run <code>python -m study audit-pruner --study",
    ):
        assert text in html, text


def test_a_parameter_name_and_choice_are_escaped():
    study = optuna.create_study(direction="maximize")
    name, choice = "<script>p</script>", "<b>x</b>"
    dist = {name: CategoricalDistribution([choice, "y"])}
    for i, (c, state) in enumerate([(choice, TrialState.PRUNED), ("y", TrialState.COMPLETE)]):
        study.add_trial(
            create_trial(
                state=state,
                value=0.4 if state == TrialState.COMPLETE else None,
                params={name: c},
                distributions=dist,
                user_attrs={records.CURVES: CURVES[1], records.BASELINE: i == 1},
            )
        )
    record = StudyRecord(classes=["a", "b", "c"])
    html = draw_diagnostics(get_diagnostics_info(ReportInputs("s", trials_frame(study), record)))
    assert name not in html and choice not in html
    assert "&lt;script&gt;p&lt;/script&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html


def inputs_of(*trials, classes=("a", "b", "c")) -> ReportInputs:
    study = optuna.create_study(direction="maximize")
    for t in trials:
        study.add_trial(t)
    return ReportInputs("s", trials_frame(study), StudyRecord(classes=list(classes)))


@pytest.mark.parametrize(
    ("inputs", "note"),
    [
        (inputs_of(), "no trial has curves to classify yet"),
        (inputs_of(trial({records.BASELINE: True, records.CURVES: CURVES[1]}, value=0.6)), None),
        (inputs_of(trial({records.CURVES: CURVES[0]}, value=0.5)), None),  # no baseline
        (inputs_of(trial({}, value=0.5)), "no trial has curves to classify yet"),
        (inputs_of(trial({}, state=TrialState.FAIL)), "no trial has curves to classify yet"),
        (
            inputs_of(trial({records.CURVES: CURVES[0]}, value=0.5), classes=()),
            "the study record has no class count, so no trial's curves could be classified",
        ),
    ],
    ids=["empty", "only-baseline", "no-baseline", "no-curves", "only-failed", "no-classes"],
)
def test_edge_cases_do_not_raise(inputs, note):
    info = get_diagnostics_info(inputs)
    assert info.note == note
    assert "What kind of failure is this?" in draw_diagnostics(info)


def test_only_the_baseline_is_baseline_and_best():
    info = get_diagnostics_info(
        inputs_of(trial({records.BASELINE: True, records.CURVES: CURVES[0]}, value=0.5))
    )
    assert [(t.number, t.label) for t in info.shown] == [(0, "baseline and best")]
    assert [c.label for c in info.curves] == ["baseline (best)"]
    assert info.stopped_share is None and info.bias == () and info.stops == ()


def test_a_planted_study_with_a_floor_pruner():
    inputs = planted_inputs(Planted(), 60, seed=1, prune_below=0.02)
    info = get_diagnostics_info(inputs)
    pruned = int((inputs.frame["state"] == "PRUNED").sum())
    assert pruned > 0 and info.stops[0].kind == "floor" and info.stops[0].trials == pruned
    assert info.stopped_share is not None and info.stopped_share.stopped == pruned
    assert [p.name for p in info.bias] == ["aug_strength", "drop_rate", "weight_decay"]
    for p in info.bias:  # quantile buckets that add up to every ended trial
        assert len(p.buckets) == 4 and sum(b.trials for b in p.buckets) == 60
        assert sum(b.stopped for b in p.buckets) == pruned
    assert [c.label for c in info.curves][:2] == ["baseline", "best"] and len(info.curves) == 6
    assert info.judged == 60 and math.isclose(sum(k.trials for k in info.kinds), 60)
