"""Section 6, the long tail: buckets, the min-images trade-off, hardest classes and groups."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from scipy.stats import binomtest

from study import records
from study.analysis.findings import Interval
from study.analysis.groups import DROPPED, Share, hardest_classes, need_data, wilson
from study.analysis.inputs import Predictions, ReportInputs
from study.analysis.paired import paired_difference
from study.analysis.planted import Planted, planted_inputs
from study.analysis.tail import TradeoffRow, bucket_names, draw_tail, get_tail_info
from study.frame import trials_frame

SCRIPT = "<script>alert(1)</script>"
CLASSES = ["a", SCRIPT, "c", "d"]
TRAIN = [1, 5, 50, 500]  # tail, tail, mid, head
LABELS = np.array([0, 0, 1, 1, 2, 2, 3, 3])
BASE = np.array([0, 1, 1, -1, 2, 3, 3, 3])  # 5/8: tail 2/4, mid 1/2, head 2/2
BEST = np.array([0, 0, 1, 1, 2, 2, 3, 0])  # 7/8: tail 4/4, mid 2/2, head 1/2
INF = math.inf


def _trial(state: TrialState, value: float | None, min_images: Any, **attrs: Any):
    curves = {
        records.EPOCH: [1, 2],
        records.VAL_TOP1: [0.1, value or 0.1],
        "val_top1_kept": [0.1, attrs.pop("kept", value or 0.1)],
        "val_top5": [0.2, 0.9],
    }
    user = {records.CURVES: curves, records.BEST_EPOCH: 2, **attrs}
    return create_trial(
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        params={"min_images": min_images, "lr": 0.01},
        distributions={
            "min_images": CategoricalDistribution([1, 5]),
            "lr": FloatDistribution(1e-4, 1.0, log=True),
        },
        user_attrs=user,
    )


def _inputs(
    trials: list,
    predictions: dict[int, np.ndarray],
    groups: dict[str, str] | None = None,
    space: dict | None = None,
) -> ReportInputs:
    study = optuna.create_study(direction="maximize")
    for trial in trials:
        study.add_trial(trial)
    record = records.StudyRecord(
        classes=CLASSES, train_counts=TRAIN, space=space or {}, split_summary={}
    )
    return ReportInputs(
        study_name=SCRIPT,
        frame=trials_frame(study),
        study=record,
        predictions={n: Predictions(LABELS, p) for n, p in predictions.items()},
        group_by="genus" if groups else None,
        class_groups=groups or {},
    )


def _hand_built(**kwargs: Any) -> ReportInputs:
    cov = records.CLASS_COVERAGE
    trials = [
        _trial(TrialState.COMPLETE, 0.625, 1, baseline=True, **{cov: 1.0}),
        _trial(TrialState.COMPLETE, 0.875, 5, kept=0.9, **{cov: 0.5}),
        _trial(TrialState.PRUNED, None, 5, **{cov: 0.1}),
        _trial(TrialState.COMPLETE, 0.6, 5, kept=0.7, **{cov: 0.7}),
        _trial(TrialState.FAIL, None, 1, error=SCRIPT),
    ]
    return _inputs(trials, {0: BASE, 1: BEST}, **kwargs)


def _share(name: str, classes: int, val: int, train: int, images: int, right: int) -> Share:
    return Share(name, classes, val, train, images, right, wilson(right, images))


def test_buckets_by_hand():
    info = get_tail_info(_hand_built())
    names = ("tail: ≤ 10", "mid: 11–100", "head: > 100")
    assert info.edges == (10, 100) and info.bucket_names == names
    base, best = info.trials
    assert (base.trial, base.role, best.trial, best.role) == (0, "baseline", 1, "best")
    assert base.buckets == (
        _share(names[0], 2, 2, 6, 4, 2),
        _share(names[1], 1, 1, 50, 2, 1),
        _share(names[2], 1, 1, 500, 2, 2),
    )
    assert [s.correct for s in best.buckets] == [4, 2, 1]
    assert base.overall == _share("all", 4, 4, 556, 8, 5)
    assert best.overall == _share("all", 4, 4, 556, 8, 7)
    assert [d.difference for d in info.differences] == [0.5, 0.5, -0.5, 0.25]
    base_ok, best_ok = BASE == LABELS, BEST == LABELS
    assert info.differences[0] == paired_difference(base_ok[:4], best_ok[:4])
    assert info.differences[3] == paired_difference(base_ok, best_ok)
    assert info.notes == ()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_buckets_add_up_exactly_to_the_overall(seed):
    inputs = planted_inputs(Planted(val_images=500), 12, seed=seed)
    info = get_tail_info(inputs)
    assert len(info.trials) == 2
    for trial in info.trials:
        assert sum(s.correct for s in trial.buckets) == trial.overall.correct
        assert sum(s.images for s in trial.buckets) == trial.overall.images == 500
        assert sum(s.classes for s in trial.buckets) == trial.overall.classes == 200
        assert trial.overall.correct == int(inputs.predictions[trial.trial].correct.sum())


@pytest.mark.parametrize(
    ("edges", "names"),
    [
        ((10, 100), ("tail: ≤ 10", "mid: 11–100", "head: > 100")),
        ((2,), ("tail: ≤ 2", "head: > 2")),
        ((1, 5, 50), ("tail: ≤ 1", "mid 1: 2–5", "mid 2: 6–50", "head: > 50")),
    ],
)
def test_bucket_names(edges, names):
    assert bucket_names(edges) == names


def test_edges_come_from_the_space():
    info = get_tail_info(_hand_built(space={"report": {"bucket_edges": [1, 5, 50]}}))
    assert [s.classes for s in info.trials[0].buckets] == [1, 1, 1, 1]
    assert [s.correct for s in info.trials[1].buckets] == [2, 2, 2, 1]


@pytest.mark.parametrize(("k", "n"), [(0, 4), (2, 4), (4, 4), (7, 8), (130, 326)])
def test_wilson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    found = wilson(k, n)
    assert (found.estimate, found.low, found.high) == pytest.approx((k / n, ci.low, ci.high))
    assert wilson(0, 0) is None


def test_hardest_classes_and_dropped():
    hard = hardest_classes(CLASSES, np.array(TRAIN), Predictions(LABELS, BASE))
    # 1/2 each for the first three (ties by name: "<" sorts before letters), then d 2/2
    assert [(c.name, c.instead, c.instead_images) for c in hard] == [
        (SCRIPT, DROPPED, 1),
        ("a", SCRIPT, 1),
        ("c", "d", 1),
        ("d", None, 0),
    ]
    assert hard[0].train_images == 5 and hard[0].images == 2 and hard[0].top1 == wilson(1, 2)
    info = get_tail_info(_hand_built())
    assert info.hardest_trial == 1 and info.hardest[0].name == "d"
    assert info.hardest[0].instead == "a"


def test_tradeoff_by_min_images():
    info = get_tail_info(_hand_built())
    half = 12.706204736 * np.std([0.5, 0.7], ddof=1) / math.sqrt(2)  # t(0.975, 1 df)
    one, five = info.tradeoff
    unknown = Interval(0.625, -INF, INF)  # one trial: no spread to measure
    assert one == TradeoffRow(1, 1, Interval(1.0, -INF, INF), unknown, unknown)
    assert five.min_images == 5 and five.trials == 2  # the pruned trial is left out
    coverage = (five.coverage.estimate, five.coverage.low, five.coverage.high)
    assert coverage == pytest.approx((0.6, 0.6 - half, 0.6 + half))
    assert five.top1.estimate == pytest.approx(0.7375)
    assert five.top1_kept.estimate == pytest.approx(0.8)


def test_groups_per_genus():
    groups = {"a": "g1", SCRIPT: "g1", "c": "g2"}
    info = get_tail_info(_hand_built(groups=groups)).groups
    assert info.field == "genus" and info.trial == 1
    assert info.groups == (
        _share("(no genus)", 1, 1, 500, 2, 1),
        _share("g1", 2, 2, 6, 4, 4),
        _share("g2", 1, 1, 50, 2, 2),
    )
    assert info.overall == _share("all", 4, 4, 556, 8, 7)
    assert info.need_data == ()  # (no genus) is low, but not beyond noise at 2 images


def test_need_data_rule():
    parts = [
        _share("A", 10, 10, 20, 100, 10),  # low, 2 per class
        _share("B", 10, 10, 1000, 100, 90),  # high
        _share("C", 10, 10, 5000, 100, 20),  # low but plenty of images
        _share("D", 10, 10, 10, 50, 5),  # low, 1 per class
    ]
    total = _share("all", 40, 40, 6030, 1000, 800)
    assert need_data(parts, total) == ("D", "A")


def test_draw_escapes_and_says_the_key_things():
    page = draw_tail(get_tail_info(_hand_built(groups={"a": SCRIPT})))
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for text in ("tail: ≤ 10", "head: &gt; 100", "predicted instead", "Groups", "min_images"):
        assert text in page or text.lower() in page.lower(), text
    assert 'id="tail-tradeoff"' in page and "<td>a</td><td>1 of 2</td>" in page
    assert "not distinguishable from noise in this study" in page


def test_no_predictions_is_said_plainly():
    inputs = _hand_built()
    inputs = ReportInputs(inputs.study_name, inputs.frame, inputs.study)
    info = get_tail_info(inputs)
    assert info.trials == () and info.hardest == () and info.groups is None
    assert any("No val predictions for trial #0 (baseline), #1 (best)" in n for n in info.notes)
    assert "No val predictions" in draw_tail(info)


@pytest.mark.parametrize(
    ("states", "predicted", "note"),
    [
        ([], {}, "No trial has finished yet"),
        ([TrialState.FAIL, TrialState.RUNNING, TrialState.PRUNED], {}, "No trial has finished"),
        ([TrialState.COMPLETE], {0: BASE}, None),  # only the baseline
    ],
)
def test_edge_cases(states, predicted, note):
    trials = [_trial(s, 0.5, 1, baseline=i == 0) for i, s in enumerate(states)]
    info = get_tail_info(_inputs(trials, predicted))
    assert (note is None and not info.notes) or any(note in n for n in info.notes)
    draw_tail(info)
    if predicted:
        assert [t.role for t in info.trials] == ["baseline and best"] and info.differences == ()


def test_no_baseline():
    trials = [_trial(TrialState.COMPLETE, 0.5, 1), _trial(TrialState.COMPLETE, 0.8, 5)]
    info = get_tail_info(_inputs(trials, {1: BEST}))
    assert [(t.trial, t.role) for t in info.trials] == [(1, "best")]
    assert info.notes == ("No finished baseline trial: the best trial is shown alone.",)
    assert info.hardest[0].name == "d"
    draw_tail(info)


def test_speed_at_10k_trials(ten_thousand_trials):
    inputs = ten_thousand_trials
    start = time.perf_counter()
    draw_tail(get_tail_info(inputs))
    print(f"tail section at 10,000 trials: {time.perf_counter() - start:.2f} s")
