"""The pruner audit on small hand-built real Optuna studies (every number hand-computed): the
sample, the false prunes (a planted late bloomer among them), the rates, the compute saved, the
not-yet-audited page, and its speed at 10,000 trials."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from study import records
from study.analysis.audit import (
    ALL_KINDS,
    AuditedTrial,
    Compute,
    Rate,
    Sampled,
    audit_sample,
    estimated_seconds,
    get_audit_info,
)
from study.analysis.audit_draw import draw_audit, duration
from study.analysis.inputs import AuditRun, AuditRuns, ReportInputs, noise_floor
from study.analysis.pruner_bias import NO_KIND, wilson
from study.frame import trials_frame
from study.records import StudyRecord

X = FloatDistribution(0.0, 1.0)
PLANNED = 8
VAL_IMAGES = 400


def curves(val: list[float]) -> dict:
    return {records.EPOCH: list(range(1, len(val) + 1)), records.VAL_TOP1: list(val)}


def complete(value: float, val: list[float] | None = None, early: bool = False, seconds=8.0):
    """A COMPLETE trial; ``early``: stopped early for overfitting after ``val``'s epochs."""
    val = val or [value] * PLANNED
    attrs = {records.CURVES: curves(val), records.EPOCHS_RUN: len(val)}
    attrs |= {records.EPOCHS_PLANNED: PLANNED, records.SECONDS: seconds}
    if early:
        attrs |= {records.STOP_KIND: "overfitting", records.STOPPED_EARLY: True}
        attrs |= {records.PRUNE_REASON: "val loss rose 2 epochs"}
    return create_trial(
        state=TrialState.COMPLETE, value=value, params={"x": 0.5}, distributions={"x": X},
        user_attrs=attrs,
    )  # fmt: skip


def pruned(val: list[float], kind: str | None = "floor", seconds: float | None = None):
    """A PRUNED trial after ``val``'s epochs (seconds: one per epoch unless given)."""
    attrs = {records.CURVES: curves(val), records.EPOCHS_RUN: len(val)}
    attrs |= {records.EPOCHS_PLANNED: PLANNED, records.PRUNE_REASON: f"stopped by {kind}"}
    attrs |= {records.SECONDS: float(len(val)) if seconds is None else seconds}
    if kind is not None:
        attrs[records.STOP_KIND] = kind
    if math.isnan(attrs[records.SECONDS]):
        del attrs[records.SECONDS]
    return create_trial(
        state=TrialState.PRUNED, params={"x": 0.5}, distributions={"x": X}, user_attrs=attrs
    )


def inputs_of(trials, audit: AuditRuns | None = None, name: str = "s") -> ReportInputs:
    study = optuna.create_study(direction="maximize")
    study.add_trials(trials)
    record = StudyRecord(split_summary={"images_per_split": {"val": VAL_IMAGES}})
    return ReportInputs(name, trials_frame(study), record, audit=audit)


def run(trial: int, val: list[float]) -> AuditRun:
    return AuditRun(trial=trial, value=max(val), val_top1=tuple(val), seconds=float(len(val)))


# Six completed trials (numbers 0-5): the best is 50 %, the 5th best 42 %.
DONE = [complete(v) for v in (0.50, 0.48, 0.46, 0.44, 0.42, 0.30)]
STOPPED = [0.08, 0.10]  # pruned at epoch 2 at 10 %
LATE = STOPPED + [0.12, 0.14, 0.20, 0.35, 0.52, 0.60]  # a late bloomer: 60 % at epoch 8
LOW = STOPPED + [0.12, 0.15, 0.18, 0.20, 0.22, 0.25]
EARLY_TOP = [0.30, 0.40, 0.49, 0.47, 0.46]  # recorded 49 % (best epoch 3), stopped at epoch 5
EARLY_LOW = [0.20, 0.30, 0.35, 0.33, 0.32]


def judged(trial, kind, epoch, stopped, full, rank, k, threshold, false, overtook, top, replay):
    return AuditedTrial(trial, kind, epoch, stopped, full, rank, k, threshold, false, overtook,
                        top, replay)  # fmt: skip


@pytest.mark.parametrize(
    ("trials", "full", "expected"),
    [
        # the planted late bloomer: above 10 % at epoch 3, above the 5th best (42 %) at epoch 7
        (DONE + [pruned(STOPPED)], LATE,
         judged(6, "floor", 2, 0.10, 0.60, 1, 5, 0.42, True, 3, 7, 0.0)),
        # a true prune: the full run stays below every completed trial
        (DONE + [pruned(STOPPED)], LOW,
         judged(6, "floor", 2, 0.10, 0.25, 7, 5, 0.42, False, None, None, 0.0)),
        # equal to the 5th best is not above it
        (DONE + [pruned(STOPPED)], STOPPED + [0.2] * 5 + [0.42],
         judged(6, "floor", 2, 0.10, 0.42, 5, 5, 0.42, False, None, None, 0.0)),
        # early-stopped, already in the top 5 at 49 %: its better full run cost nothing
        (DONE + [complete(0.49, EARLY_TOP, early=True)], EARLY_TOP + [0.50, 0.55, 0.54],
         judged(6, "overfitting", 5, 0.46, 0.55, 1, 5, 0.42, False, None, None, 0.0)),
        # early-stopped at 35 %, outside the top 5: its full run would be 3rd
        (DONE + [complete(0.35, EARLY_LOW, early=True)], EARLY_LOW + [0.40, 0.45, 0.47],
         judged(6, "overfitting", 5, 0.32, 0.47, 3, 5, 0.42, True, 6, 7, 0.0)),
        # two completed trials: K = 2, judged against the 2nd best (30 %)
        ([complete(0.5), complete(0.3), pruned([0.1, 0.2])],
         [0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.4, 0.4],
         judged(2, "floor", 2, 0.2, 0.4, 2, 2, 0.3, True, 3, 5, 0.0)),
        # no completed trial: it cannot be judged
        ([pruned([0.1, 0.2], kind=None)], [0.1, 0.2, 0.3],
         judged(0, NO_KIND, 2, 0.2, 0.3, 1, 0, None, None, None, None, 0.0)),
        # a rerun that does not replay its original (8 and 10 % then 18 and 10 %)
        (DONE + [pruned(STOPPED)], [0.18] + LATE[1:],
         judged(6, "floor", 2, 0.10, 0.60, 1, 5, 0.42, True, 3, 7, 0.18 - 0.08)),
    ],
    ids=["late-bloomer", "true-prune", "tie", "early-in-top", "early-outside",
         "fewer-than-k", "no-completed", "no-replay"],
)  # fmt: skip
def test_each_audited_trial_is_judged(trials, full, expected):
    audit = AuditRuns(sample=(expected.trial,), runs=(run(expected.trial, full),))
    info = get_audit_info(inputs_of(trials, audit))
    assert info.trials == (expected,)
    assert info.false_prunes == ((expected,) if expected.false_prune else ())
    not_judged = "no other trial completed, so a full run cannot be ranked: not judged"
    assert (not_judged in info.notes) == (expected.false_prune is None)
    replay_note = any("not the same runs" in n for n in info.notes)
    assert replay_note == (expected.replay > 0.005)


def test_the_late_bloomer_costs_the_best_result():
    audit = AuditRuns(sample=(6,), runs=(run(6, LATE),))
    info = get_audit_info(inputs_of(DONE + [pruned(STOPPED)], audit))
    assert (info.best_value, info.best_full) == (0.50, 0.60)
    assert info.cost == pytest.approx(0.10) and info.noise == noise_floor(0.5, VAL_IMAGES)
    assert info.within_noise is False  # 10 points against a 2.5-point noise floor
    html = draw_audit(info)
    for text in ("+10.0 points", "beyond the noise", "#6", "epoch 2: 10.0 %", "60.0 %"):
        assert text in html, text


def test_rates_per_kind_with_wilson_intervals():
    # Trials 0-5 completed; 6-9 floor, 10-11 median, 12 median not run yet (pending).
    trials = DONE + [pruned(STOPPED)] * 4 + [pruned(STOPPED, kind="median")] * 3
    runs = (run(6, LATE), run(7, LOW), run(8, LOW), run(9, LATE), run(10, LATE), run(11, LATE))
    runs += (run(6, LOW),)  # a second run of trial 6 (two workers): the first counts
    audit = AuditRuns(sample=(6, 7, 8, 9, 10, 11, 12), runs=runs)
    info = get_audit_info(inputs_of(trials, audit))
    assert info.rates == (
        Rate(ALL_KINDS, 7, 7, 6, 4, wilson(4, 6), 1.0),
        Rate("floor", 4, 4, 4, 2, wilson(2, 4), 1.0),
        Rate("median", 3, 3, 2, 2, wilson(2, 2), 1.0),
    )
    assert info.pending == 1 and any(
        "1 sampled trials have no finished rerun" in n for n in info.notes
    )
    assert "50.0 % (15.0 % to 85.0 %)" in draw_audit(info)  # floor: 2 of 4


def test_compute_saved_over_every_stopped_trial():
    # Completed: 8 epochs in 8 s and in 24 s (1 and 3 s/epoch). Pruned: 2 of 8 epochs in 4 s
    # (2 s/epoch: 12 s saved), 4 of 8 with no seconds (the median 2 s/epoch: 8 s saved).
    trials = [complete(0.5), complete(0.4, seconds=24.0)]
    trials += [pruned(STOPPED, seconds=4.0), pruned([0.1] * 4, kind="median", seconds=math.nan)]
    info = get_audit_info(inputs_of(trials))
    assert info.compute == Compute(saved_seconds=20.0, spent_seconds=36.0, counted=2, unknown=0)
    assert "(35.7 % of the study unpruned)" in draw_audit(info)  # 20 s of 36 + 20


def test_not_audited_gives_the_sample_its_time_and_the_command():
    trials = [complete(0.5), complete(0.4, seconds=24.0), pruned(STOPPED, seconds=4.0)]
    info = get_audit_info(inputs_of(trials, name="my study"))
    assert not info.audited and info.trials == () and info.stopped == 1
    assert info.sample == (Sampled(2, "floor", PLANNED),)
    assert info.estimate == 16.0  # 8 epochs × the median 2 s/epoch (1, 3 and 2)
    assert info.command == "python -m study audit-pruner --study 'my study'"
    assert info.rates[0] == Rate(ALL_KINDS, 1, 1, 0, 0, None, 1.0)
    html = draw_audit(info)
    assert "Not audited yet" in html and "python -m study audit-pruner --study" in html
    assert "under a minute" in html


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(None, "time unknown: no trial recorded its seconds"), (30, "under a minute"),
     (600, "about 10 min"), (7199, "about 120 min"), (4 * 3600, "about 4.0 h")],
)  # fmt: skip
def test_duration(seconds, words):
    assert duration(seconds) == words


def test_nothing_stopped_means_nothing_to_audit():
    info = get_audit_info(inputs_of([complete(0.5), complete(0.4)]))
    assert info.stopped == 0 and info.sample == () and info.compute is None
    assert info.notes == ("no trial was pruned or stopped early: nothing to audit",)
    assert "nothing to audit" in draw_audit(info)


def kinds_study(floor=10, median=5, early=1, none=2) -> ReportInputs:
    trials = [complete(0.5)]
    trials += [pruned(STOPPED)] * floor + [pruned(STOPPED, kind="median")] * median
    trials += [complete(0.3, EARLY_LOW, early=True)] * early + [pruned(STOPPED, kind=None)] * none
    return inputs_of(trials)


@pytest.mark.parametrize(
    ("n", "counts"),
    [
        (18, {"floor": 10, "median": 5, "overfitting": 1, NO_KIND: 2}),  # all when <= n
        (30, {"floor": 10, "median": 5, "overfitting": 1, NO_KIND: 2}),
        # one each, then 2 by remainder of 2 × (9, 4, 0, 1) / 14: floor 1 r4, median 0 r8
        (6, {"floor": 2, "median": 2, "overfitting": 1, NO_KIND: 1}),
        (4, {"floor": 1, "median": 1, "overfitting": 1, NO_KIND: 1}),
        (2, {"floor": 1, "median": 1}),  # more kinds than n: the largest kinds
        # one each, then 13 of 14 in proportion: floor 8 r5, median 3 r10, none 0 r13
        (17, {"floor": 9, "median": 5, "overfitting": 1, NO_KIND: 2}),
    ],
)
def test_the_sample_is_stratified_by_kind(n, counts):
    inputs = kinds_study()
    sample = audit_sample(inputs.frame, n, seed=3)
    found: dict[str, int] = {}
    for s in sample:
        found[s.kind] = found.get(s.kind, 0) + 1
    assert found == counts
    assert [s.trial for s in sample] == sorted({s.trial for s in sample})
    rows = inputs.frame.set_index("number")
    for s in sample:  # each a stopped trial of its own kind, rerun to its planned epochs
        kind = rows.loc[s.trial, "stop_kind"]
        assert (NO_KIND if pd.isna(kind) else kind) == s.kind
        assert s.epochs == PLANNED
    assert audit_sample(inputs.frame, n, seed=3) == sample  # deterministic


def test_the_seed_changes_the_draw_not_the_strata():
    frame = kinds_study(floor=40, median=0, early=0, none=0).frame
    draws = {tuple(s.trial for s in audit_sample(frame, 5, seed=seed)) for seed in range(5)}
    assert len(draws) > 1 and {len(d) for d in draws} == {5}


@pytest.mark.parametrize("n", [0, -3])
def test_a_sample_below_one_is_an_error(n):
    with pytest.raises(ValueError, match=f"n must be >= 1, got {n}"):
        audit_sample(kinds_study().frame, n)


def test_estimated_seconds():
    inputs = kinds_study()
    sample = audit_sample(inputs.frame, 4)
    # per epoch: completed trials 1 s (8 s / 8), pruned 1 s (2 s / 2): 4 trials × 8 epochs
    assert estimated_seconds(inputs.frame, sample) == 32.0
    assert estimated_seconds(inputs.frame, ()) == 0.0
    bare = inputs_of([pruned(STOPPED, seconds=math.nan)])
    assert estimated_seconds(bare.frame, audit_sample(bare.frame, 1)) is None


def test_draw_escapes_the_study_name_and_shows_the_rate():
    bad = "<script>alert('x')</script>"
    audit = AuditRuns(sample=(6,), runs=(run(6, LATE),))
    for info in (
        get_audit_info(inputs_of(DONE + [pruned(STOPPED, kind=bad)], name=bad)),
        get_audit_info(inputs_of(DONE + [pruned(STOPPED, kind=bad)], audit, name=bad)),
    ):
        html = draw_audit(info)
        assert bad not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "100.0 % (20.7 % to 100.0 %)" in html and "entered the top K at epoch" in html


CATEGORY = CategoricalDistribution(["a", "b"])


@pytest.mark.parametrize(
    "trials",
    [
        [],
        [complete(0.5)],
        [create_trial(state=TrialState.FAIL, params={"x": 0.5}, distributions={"x": X})],
        [pruned(STOPPED), create_trial(state=TrialState.FAIL)],
        [create_trial(state=TrialState.PRUNED, params={"c": "a"}, distributions={"c": CATEGORY})],
    ],
    ids=["empty", "only-one", "only-failed", "pruned-and-failed", "bare-pruned-categorical"],
)
def test_edge_cases_do_not_raise(trials):
    inputs = inputs_of(trials)
    for audit in (None, AuditRuns(), AuditRuns(sample=(0,), runs=(run(0, [0.1, 0.2]),))):
        info = get_audit_info(replace(inputs, audit=audit))
        assert isinstance(draw_audit(info), str)


def test_ten_thousand_trials_three_thousand_stopped_under_two_seconds():
    trials = [complete(0.3 + 0.2 * (i % 97) / 97) for i in range(7_000)]
    trials += [pruned(STOPPED, kind=("floor", "median", None)[i % 3]) for i in range(3_000)]
    inputs = inputs_of(trials)
    sample = audit_sample(inputs.frame, 3_000)
    audit = AuditRuns(sample=tuple(s.trial for s in sample), runs=tuple(
        run(s.trial, LATE if s.trial % 2 else LOW) for s in sample))  # fmt: skip
    for case in (inputs, replace(inputs, audit=audit)):
        start = time.perf_counter()
        info = get_audit_info(case)
        seconds = time.perf_counter() - start
        print(f"get_audit_info, 10,000 trials, {len(case.audit.runs) if case.audit else 0} "
              f"reruns: {seconds:.2f} s")  # fmt: skip
        assert seconds < 2.0 and info.stopped == 3_000
    assert info.rates[0] == Rate(ALL_KINDS, 3_000, 3_000, 3_000, 1_500, wilson(1_500, 3_000), 1.0)


@pytest.mark.parametrize(
    ("best_run", "words"),
    [
        (LATE, "may have cost +10.0 points, beyond the noise"),
        (LATE[:-2] + [0.52], "may have cost +2.0 points, not distinguishable from noise"),
        (LOW, "No full run beat the study&#x27;s best (50.0 %)"),
    ],
)
def test_the_cost_is_read_against_the_noise_floor(best_run, words):
    audit = AuditRuns(sample=(6,), runs=(run(6, best_run),))
    html = draw_audit(get_audit_info(inputs_of(DONE + [pruned(STOPPED)], audit)))
    assert words in html and "noise floor (one standard error) is 2.5 points" in html
