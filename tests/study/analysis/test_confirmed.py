"""The "Confirmed on held-out test" section on hand-built confirmations with known answers."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import optuna
import pytest

from study.analysis.confirmed import get_confirmed_info, held_out_interval
from study.analysis.confirmed_draw import draw_confirmed
from study.analysis.inputs import (
    ConfirmConfig,
    ConfirmRun,
    ConfirmRuns,
    Predictions,
    ReportInputs,
)
from study.frame import trials_frame
from study.records import StudyRecord

N = 100  # test images: 25 of each of 4 classes
LABELS = np.repeat(np.arange(4), 25)
TRAIN_COUNTS = [5, 50, 500, 500]  # class 0: tail (<= 10), class 1: mid, classes 2 and 3: head


def predictions(correct: int) -> Predictions:
    """The first ``correct`` test images right, the rest wrong (so one config's correct set
    holds another's whenever it is larger: the paired difference is exact)."""
    predicted = LABELS.copy()
    predicted[correct:] = (LABELS[correct:] + 1) % 4
    return Predictions(LABELS, predicted)


def run(trial: int, seed: int, val: float, correct: int, with_test: bool = True) -> ConfirmRun:
    test = predictions(correct) if with_test else None
    return ConfirmRun(trial, seed, val, correct / N, 10, test)


def inputs(configs, runs, seeds=(1, 2), name="s") -> ReportInputs:
    record = StudyRecord(train_counts=TRAIN_COUNTS, classes=("a", "b", "c", "d"))
    confirm = ConfirmRuns(
        configs=tuple(configs),
        seeds=tuple(seeds),
        runs=tuple(runs),
        test_images=N,
        test_classes=4,
        classes=6,
        thin_classes=2,
    )
    frame = trials_frame(optuna.create_study())
    return ReportInputs(study_name=name, frame=frame, study=record, confirm=confirm)


WIN, SECOND, BASE = (
    ConfirmConfig(7, 0.6, False),
    ConfirmConfig(3, 0.58, False),
    ConfirmConfig(0, 0.4, True),
)


def two(correct_a: int, correct_b: int, first=WIN):
    runs = [run(first.trial, s, 0.55, correct_a) for s in (1, 2)]
    runs += [run(SECOND.trial, s, 0.5, correct_b) for s in (1, 2)]
    return inputs([first, SECOND], runs)


# (winner correct, #2 correct) -> the difference's exact 95 % half-width: 1.96 sqrt(var(d) / n)
def half(k: int) -> float:
    """d is 1 on k images and 0 on the others; the seeds agree, so only the images count."""
    m = k / N
    var = (k * (1 - m) ** 2 + (N - k) * m**2) / (N - 1)
    return 1.96 * math.sqrt(var / N)


@pytest.mark.parametrize(
    ("a", "b", "first", "verdict"),
    [
        (80, 50, WIN, "The winner holds: it beats trial 3 on test beyond noise."),
        (52, 50, WIN, "The winner is within noise of trial 3 on test"),
        (50, 80, WIN, "The winner does not hold: trial 3 beats it on test beyond noise."),
        (80, 50, ConfirmConfig(0, 0.6, True), "The winner (the baseline itself) holds"),
    ],
)
def test_the_verdict_and_the_paired_comparison(a, b, first, verdict):
    info = get_confirmed_info(two(a, b, first))
    assert info.verdict.startswith(verdict)
    (c,) = info.comparisons
    assert (c.a, c.b, c.images) == (first.trial, 3, N)
    assert c.difference == pytest.approx((a - b) / N)
    assert c.high - c.difference == pytest.approx(half(abs(a - b)))


def test_within_noise_says_what_would_settle_it():
    info = get_confirmed_info(two(52, 50))
    need = math.ceil(N * (half(2) / 0.02) ** 2)
    assert need == 191
    assert info.settle is not None and f"about {need:,} test images" in info.settle


def test_the_rows_optimism_and_buckets():
    info = get_confirmed_info(two(80, 50))
    win = info.rows[0]
    assert (win.trial, win.role, win.runs, win.planned) == (7, "winner", 2, 2)
    assert win.val is not None and win.val.estimate == pytest.approx(0.55)
    assert win.test is not None and win.test.estimate == pytest.approx(0.8)
    # same test top-1 on both seeds: the interval is the images' binomial half-width only
    assert win.test.high - 0.8 == pytest.approx(1.96 * math.sqrt(0.8 * 0.2 / N))
    assert win.optimism == pytest.approx(0.6 - 0.8)
    assert win.selection == pytest.approx(0.6 - 0.55) and win.shift == pytest.approx(0.55 - 0.8)
    # correct on the first 80 images: classes 0-2 all right (tail, mid, head half), class 3 5/25
    assert info.buckets == ("tail: ≤ 10", "mid: 11–100", "head: > 100")
    assert win.buckets == pytest.approx((1.0, 1.0, (25 + 5) / 50))
    assert (info.test_images, info.test_classes, info.classes, info.thin_classes) == (N, 4, 6, 2)


def test_the_test_interval_adds_seeds_and_images_in_quadrature():
    i = held_out_interval([0.5, 0.6], 100)
    seeds = 12.706204736 * np.std([0.5, 0.6], ddof=1) / math.sqrt(2)
    images = 1.96 * math.sqrt(0.55 * 0.45 / 100)
    assert i is not None and i.estimate == pytest.approx(0.55)
    assert i.high - i.estimate == pytest.approx(math.hypot(seeds, images), rel=1e-6)
    assert held_out_interval([], 100) is None


def test_kendall_tau_over_three_configurations():
    runs = [run(7, 1, 0.5, 50), run(3, 1, 0.5, 55), run(0, 1, 0.3, 30)]
    info = get_confirmed_info(inputs([WIN, SECOND, BASE], runs, seeds=(1,)))
    # val order 7 > 3 > 0; test 3 > 7 > 0: one discordant pair of three
    assert info.tau == pytest.approx(1 / 3) and info.tau_configs == 3
    labels = [c.label for c in info.comparisons]
    assert labels == ["the winner vs #2", "the winner vs the baseline"]
    assert info.rows[2].role == "#3 (baseline)"
    assert info.rows[0].val is not None and math.isinf(info.rows[0].val.high)  # one run


def test_fewer_than_three_configurations_have_no_tau():
    info = get_confirmed_info(two(80, 50))
    assert info.tau is None and info.tau_configs == 2
    assert any("Kendall's tau needs 3" in n for n in info.notes)


@pytest.mark.parametrize(
    ("runs", "verdict", "pending"),
    [
        ([], "Not confirmed yet", 4),
        ([run(7, 1, 0.5, 50)], "Only the winner has test runs", 3),
        # #2 ran but kept no predictions: no image-by-image comparison
        ([run(7, 1, 0.5, 50), run(3, 1, 0.5, 50, with_test=False)], "Only the winner", 2),
    ],
)
def test_unfinished_confirmations(runs, verdict, pending):
    info = get_confirmed_info(inputs([WIN, SECOND], runs))
    assert info.verdict.startswith(verdict)
    assert any(f"{pending} runs not finished yet" in n for n in info.notes)


def test_not_confirmed_gives_the_command_and_escapes():
    bare = ReportInputs(study_name="<script>x", frame=trials_frame(optuna.create_study()))
    info = get_confirmed_info(bare)
    assert not info.confirmed
    html = draw_confirmed(info)
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    assert "python -m study confirm --study" in html


def test_the_draw_shows_the_numbers_and_the_verdict():
    html = draw_confirmed(get_confirmed_info(two(80, 50)))
    for text in ("80.0 %", "+30.0 points", "The winner holds", "fewer than 10 images", "2 classes"):
        assert text in html, text


def test_fast_on_a_large_test_split():
    import time

    rng = np.random.default_rng(0)
    n, labels = 20_000, rng.integers(0, 4, 20_000)
    configs = [ConfirmConfig(i, 0.6 - 0.01 * i, i == 5) for i in range(6)]
    runs = [
        ConfirmRun(
            i, s, 0.5, 0.5, 3, Predictions(labels, np.where(rng.random(n) < 0.5, labels, -1))
        )
        for i in range(6)
        for s in (1, 2, 3)
    ]
    start = time.perf_counter()
    info = get_confirmed_info(inputs(configs, runs, seeds=(1, 2, 3)))
    assert time.perf_counter() - start < 2.0
    assert len(info.rows) == 6 and info.tau_configs == 6


def test_val_on_the_test_classes_compares_like_with_like():
    # val: the 4 test classes (25 images each) and 50 images of a class too rare for test
    labels = np.concatenate([LABELS, np.full(50, 4)])
    rerun_val = labels.copy()
    rerun_val[N:] = 0  # every rare-class image wrong, every other right
    search_val = rerun_val.copy()
    search_val[:10] = 3  # the search's trial got 10 of the common images wrong too
    runs = [
        dataclasses.replace(run(7, s, 100 / 150, 80), val=Predictions(labels, rerun_val))
        for s in (1, 2)
    ]
    base = inputs([WIN], runs)
    base = dataclasses.replace(base, predictions={7: Predictions(labels, search_val)})
    win = get_confirmed_info(base).rows[0]
    assert win.val is not None and win.val.estimate == pytest.approx(100 / 150)
    assert win.search_like == pytest.approx(0.9)
    assert win.val_like is not None and win.val_like.estimate == pytest.approx(1.0)
    assert win.like_selection == pytest.approx(-0.1) and win.like_shift == pytest.approx(0.2)
    assert win.shift == pytest.approx(100 / 150 - 0.8)  # the raw shift mixes in the rare class


def test_intervals_stay_within_0_and_1():
    runs = [run(7, 1, 0.02, 1), run(7, 2, 0.10, 9)]  # two seeds far apart near zero
    row = get_confirmed_info(inputs([WIN], runs)).rows[0]
    assert row.val is not None and row.val.low == 0.0 < row.val.high
    assert row.test is not None and row.test.low == 0.0 and row.test.estimate == pytest.approx(0.05)
