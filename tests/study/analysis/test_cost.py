"""Section 5, size and cost: Pareto fronts and the noise floor, checked with ==."""

from __future__ import annotations

import math
import time
from itertools import pairwise

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from study.analysis.cost import NOISE_GAP, draw_cost, get_cost_info, pareto_front
from study.analysis.inputs import ReportInputs
from study.frame import trials_frame
from study.records import StudyRecord
from tests.study.analysis.test_views import trace_types

# number: (num_params, seconds, val top-1); trial 0 is the baseline
TRIALS = {0: (1000, 10.0, 0.40), 1: (500, 30.0, 0.45), 2: (2000, 20.0, 0.50), 3: (1500, 5.0, 0.42)}


def _inputs(trials=TRIALS, images: int = 100, extra_states: bool = True) -> ReportInputs:
    study = optuna.create_study(direction="maximize")
    dist = {"x": FloatDistribution(0, 1)}
    for number, (size, seconds, top1) in trials.items():
        attrs = {"baseline": number == 0, "num_params": size, "seconds": seconds}
        study.add_trial(
            create_trial(params={"x": 0.5}, distributions=dist, value=top1, user_attrs=attrs)
        )
    if extra_states:  # a failed trial with a size, a pruned and a running one: never on a front
        attrs = {"num_params": 10, "seconds": 1.0}
        study.add_trial(create_trial(state=TrialState.FAIL, user_attrs=attrs))
        study.add_trial(create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.9}))
        study.add_trial(create_trial(state=TrialState.RUNNING, user_attrs=attrs))
    split = {"images_per_split": {"val": images}} if images else {}
    return ReportInputs("tiny", trials_frame(study), StudyRecord(split_summary=split))


@pytest.mark.parametrize(
    "points, front",
    [
        ((), ()),
        (((0, 1.0, 0.5),), ((0, 1.0, 0.5),)),
        (
            # 4 ties 1 exactly; 0 and 3 are beaten by 1 (cheaper and better); 5 costs more
            # than 2 for the same top-1; 6 is beaten by 2 at the same cost
            [(0, 100, 0.4), (1, 50, 0.45), (2, 200, 0.5), (3, 150, 0.42), (4, 50, 0.45)]
            + [(5, 300, 0.5), (6, 200, 0.3)],
            ((1, 50, 0.45), (4, 50, 0.45), (2, 200, 0.5)),
        ),
        ([(0, 1, 0.1), (1, 2, 0.2), (2, 3, 0.3)], ((0, 1, 0.1), (1, 2, 0.2), (2, 3, 0.3))),
        ([(0, 3, 0.1), (1, 2, 0.2), (2, 1, 0.3)], ((2, 1, 0.3),)),
    ],
    ids=["empty", "one", "ties and dominated", "a trade-off all along", "one dominates"],
)
def test_pareto_front(points, front):
    assert pareto_front(points) == front


def test_fronts_of_a_hand_built_study():
    info = get_cost_info(_inputs())
    assert (info.finished, info.val_images, info.noise_floor) == (4, 100, 0.05)  # sqrt(.25/100)
    size, seconds = info.plots
    assert (size.measure, seconds.measure) == ("num_params", "seconds")
    assert size.points == (
        (0, 1000.0, 0.40),
        (1, 500.0, 0.45),
        (2, 2000.0, 0.50),
        (3, 1500.0, 0.42),
    )
    assert size.front == ((1, 500.0, 0.45), (2, 2000.0, 0.50))
    assert seconds.front == ((3, 5.0, 0.42), (2, 20.0, 0.50))
    assert (size.baseline, size.best) == ((0, 1000.0, 0.40), (2, 2000.0, 0.50))
    assert (seconds.baseline, seconds.best) == ((0, 10.0, 0.40), (2, 20.0, 0.50))
    assert (size.log, seconds.log) == (False, False)
    # the margin is 1.96 * sqrt(2) * 0.05 = 13.9 points: every step is within noise
    assert round(NOISE_GAP * 0.05, 4) == 0.1386
    assert (size.within_noise, size.cheapest_near_best) == ((2,), (1, 500.0, 0.45))
    assert (seconds.within_noise, seconds.cheapest_near_best) == ((2,), (3, 5.0, 0.42))


def test_a_big_val_split_separates_the_front():
    size, seconds = get_cost_info(_inputs(images=10_000)).plots  # margin 1.4 points
    assert (size.within_noise, size.cheapest_near_best) == ((), (2, 2000.0, 0.50))
    assert (seconds.within_noise, seconds.cheapest_near_best) == ((), (2, 20.0, 0.50))


def test_unknown_val_size_states_it():
    info = get_cost_info(_inputs(images=0))
    assert info.noise_floor is None
    assert {(p.within_noise, p.cheapest_near_best) for p in info.plots} == {((), None)}
    assert "noise floor is unknown" in draw_cost(info)


def test_draws_the_noise_floor_and_svg_only():
    html = draw_cost(get_cost_info(_inputs()))
    assert "one standard error of val top-1 is 5.0 points on 100 val images" in html
    assert "more than about 13.9 points" in html
    assert "not distinguishable from noise in this study" in html
    assert "Trial 1 (500 parameters, 45.0 %) is the cheapest" in html
    assert trace_types(html) == {"scatter"}


def test_log_axis_when_the_sizes_span_ten_times():
    trials = {0: (1_000, 1.0, 0.4), 1: (50_000, 2.0, 0.5)}
    size, seconds = get_cost_info(_inputs(trials)).plots
    assert (size.log, seconds.log) == (True, False)


def test_trials_without_a_cost_are_left_out():
    trials = {**TRIALS, 4: (math.nan, 40.0, 0.6)}
    size, seconds = get_cost_info(_inputs(trials)).plots
    assert [p[0] for p in size.points] == [0, 1, 2, 3] and size.best is None
    assert seconds.front == ((3, 5.0, 0.42), (2, 20.0, 0.50), (4, 40.0, 0.60))
    assert "Trial" in draw_cost(get_cost_info(_inputs(trials)))


@pytest.mark.parametrize(
    "trials, extra_states, text",
    [
        ({}, False, "No finished trial"),
        ({}, True, "No finished trial"),
        ({0: TRIALS[0]}, True, "1 of 1 trials on the front"),
    ],
    ids=["empty", "none finished", "only the baseline"],
)
def test_edge_studies_draw(trials, extra_states, text):
    info = get_cost_info(_inputs(trials, extra_states=extra_states))
    assert text in draw_cost(info)


def test_ten_thousand_trials(ten_thousand_trials):
    inputs = ten_thousand_trials
    start = time.perf_counter()
    info = get_cost_info(inputs)
    middle = time.perf_counter()
    html = draw_cost(info)
    end = time.perf_counter()
    print(
        f"cost at 10,000 trials: info {middle - start:.2f} s, draw {end - middle:.2f} s, "
        f"{len(html) / 1e6:.2f} MB"
    )
    size = info.plots[0]
    assert len(size.points) == info.finished and size.best in size.front
    assert all(a[1] <= b[1] and a[2] < b[2] for a, b in pairwise(size.front))
    assert len(html) < 5e6
