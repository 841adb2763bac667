"""Section 4, per-parameter views: plain data checked with == on a hand-built study."""

from __future__ import annotations

import json
import math
import re
import time

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from study.analysis.inputs import ReportInputs
from study.analysis.views import MAX_LINES, Bucket, draw_views, get_views_info
from study.frame import trials_frame
from study.records import StudyRecord

SCRIPT = "<script>alert(1)</script>"
DISTS = {
    "weight_decay": FloatDistribution(1e-4, 1e-1, log=True),
    "drop_rate": FloatDistribution(0.0, 0.5),
    "model": CategoricalDistribution(["a", "b"]),
    "lr": FloatDistribution(1e-4, 1e-2, log=True),
}
SPACE = {
    "params": {
        "weight_decay": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "drop_rate": {"type": "float", "low": 0.0, "high": 0.5, "log": False},
        "model": {"type": "categorical", "choices": ["a", "b"]},
        "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True, "role": "nuisance"},
    }
}
ROLES = {"weight_decay": "scientific", "drop_rate": "scientific", "lr": "nuisance"}  # model: absent
# number: (weight_decay, drop_rate, model, lr, val top-1); trial 0 is the baseline
TRIALS = {
    0: (0.01, 0.0, "a", 1e-3, 0.40),
    1: (0.002, 0.1, "b", 2e-3, 0.45),
    2: (0.05, 0.4, "a", 5e-3, 0.50),
    3: (0.02, 0.3, "b", 1e-3, 0.42),
}


def _study(trials=TRIALS, dists=DISTS, extra_states=True) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for number, row in trials.items():
        params = dict(zip(dists, row[:-1], strict=False))
        attrs = {"baseline": number == 0}
        study.add_trial(
            create_trial(params=params, distributions=dists, value=row[-1], user_attrs=attrs)
        )
    if extra_states:  # none of these is finished: the views never count them
        some = {"weight_decay": 0.09, "drop_rate": 0.2, "model": "a", "lr": 1e-3}
        for state in (TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING):
            values = {"intermediate_values": {1: 0.1}} if state == TrialState.PRUNED else {}
            study.add_trial(create_trial(params=some, distributions=dists, state=state, **values))
    return study


def _inputs(study: optuna.Study, images: int = 100, **record) -> ReportInputs:
    record = {"space": SPACE, "roles": ROLES, **record}
    split = {"images_per_split": {"val": images}} if images else {}
    return ReportInputs("tiny", trials_frame(study), StudyRecord(split_summary=split, **record))


def trace_types(html: str) -> set[str]:
    """The trace types of every figure in ``html`` (their data, not the template's)."""
    decoder, found = json.JSONDecoder(), set()
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', html):
        data, _ = decoder.raw_decode(html, match.end())
        found |= {trace.get("type", "scatter") for trace in data}
    assert found, "no figure found"
    return found


def _half(top1: float, images: int = 100) -> float:
    return round(1.96 * math.sqrt(top1 * (1 - top1) / images), 4)


def test_isolation_buckets_of_a_hand_built_study():
    info = get_views_info(_inputs(_study()))
    by = {v.name: v for v in info.params}
    assert [v.name for v in info.params] == ["weight_decay", "drop_rate", "model", "lr"]
    assert [v.name for v in info.params if v.scientific] == ["weight_decay", "drop_rate", "model"]
    # 4 finished trials: ceil(sqrt(4)) = 2 buckets; log edges 1e-4, 10^-2.5 = 0.00316, 0.1
    assert by["weight_decay"].buckets == (
        Bucket("0.0001–0.00316", 1, 0.45, 1, _half(0.45)),
        Bucket("0.00316–0.1", 3, 0.50, 2, _half(0.50)),
    )
    assert by["weight_decay"].baseline_bucket == 1
    assert by["drop_rate"].buckets == (
        Bucket("0–0.25", 2, 0.45, 1, _half(0.45)),
        Bucket("0.25–0.5", 2, 0.50, 2, _half(0.50)),
    )
    assert by["drop_rate"].baseline_bucket == 0
    assert by["model"].buckets == (
        Bucket("a", 2, 0.50, 2, _half(0.50)),
        Bucket("b", 2, 0.45, 1, _half(0.45)),
    )
    assert (by["model"].categorical, by["model"].baseline, by["model"].baseline_bucket) == (
        True,
        "a",
        0,
    )
    assert _half(0.45) == 0.0975


def test_slices_history_and_parallel_of_a_hand_built_study():
    info = get_views_info(_inputs(_study()))
    by = {v.name: v for v in info.params}
    assert info.numbers == (0, 1, 2, 3)  # the PRUNED, FAIL and RUNNING trials are not finished
    assert info.values == (0.40, 0.45, 0.50, 0.42)
    assert info.best_so_far == (0.40, 0.45, 0.50, 0.50)
    assert info.baseline_value == 0.40
    assert by["weight_decay"].x == (0.01, 0.002, 0.05, 0.02)
    assert (by["weight_decay"].log, by["lr"].log, by["drop_rate"].log) == (True, True, False)
    assert by["model"].x == ("a", "b", "a", "b")
    par = info.parallel
    assert par.axes == ("weight_decay", "drop_rate", "model", "lr", "val top-1")
    assert par.total == 4
    wd = lambda v: round((math.log10(v) + 4) / 3, 4)  # noqa: E731  # places on a log axis
    lr = lambda v: round((math.log10(v) + 4) / 2, 4)  # noqa: E731
    # best first: trials 2, 1, 3, 0; val top-1 axis from 0.40 (0) to 0.50 (1)
    assert par.lines == (
        (wd(0.05), 0.8, 0.0, lr(5e-3), 1.0),
        (wd(0.002), 0.2, 1.0, lr(2e-3), 0.5),
        (wd(0.02), 0.6, 1.0, lr(1e-3), 0.2),
        (wd(0.01), 0.0, 0.0, lr(1e-3), 0.0),
    )
    assert par.baseline == par.lines[-1]
    assert par.ticks[2] == ((0.0, "a"), (1.0, "b"))
    assert par.ticks[1] == ((0.0, "0"), (0.5, "0.25"), (1.0, "0.5"))
    assert par.ticks[-1] == ((0.0, "40.0 %"), (1.0, "50.0 %"))


def test_draws_svg_only_with_the_key_text():
    html = draw_views(get_views_info(_inputs(_study())))
    for title in ("Isolation plots", "Slice plots", "Parallel coordinates", "Optimization history"):
        assert f"<h3>{title}</h3>" in html
    assert trace_types(html) == {"scatter"}
    assert "the best 4 of 4" in html
    assert '"type":"log"' in html and '"type":"category"' in html


def test_escapes_a_script_choice_and_name():
    dists = {SCRIPT: CategoricalDistribution([SCRIPT, "b"]), "x": FloatDistribution(0, 1)}
    trials = {0: (SCRIPT, 0.5, 0.4), 1: ("b", 0.2, 0.5)}
    inputs = _inputs(_study(trials, dists, extra_states=False), space={}, roles={})
    info = get_views_info(inputs)
    assert info.params[0].buckets[0].label == SCRIPT  # plain data keeps it as it is
    html = draw_views(info)
    assert SCRIPT not in html and "alert(1)" in html


def test_missing_baseline_reads_the_recorded_baseline_params():
    trials = {n: row for n, row in TRIALS.items() if n}  # no baseline trial
    study = _study(trials)
    for trial in study.get_trials():
        assert not trial.user_attrs.get("baseline")
    base = {"weight_decay": 0.001, "drop_rate": 0.45, "model": "b", "lr": 1e-3}
    info = get_views_info(_inputs(study, baseline_params=base))
    by = {v.name: v for v in info.params}
    assert info.baseline_value is None and info.parallel.baseline is None
    assert (by["weight_decay"].baseline_bucket, by["drop_rate"].baseline_bucket) == (0, 1)
    assert by["model"].baseline_bucket == 1
    assert "<h3>Isolation plots</h3>" in draw_views(info)
    nothing = get_views_info(_inputs(study))
    assert {v.baseline_bucket for v in nothing.params} == {None}
    draw_views(nothing)


def test_a_trial_without_a_parameter_and_unknown_val_size():
    dists = {k: DISTS[k] for k in ("weight_decay", "model")}
    study = _study({0: (0.01, "a", 0.4)}, dists, extra_states=False)
    study.add_trial(
        create_trial(params={"model": "b"}, distributions={"model": DISTS["model"]}, value=0.3)
    )
    info = get_views_info(_inputs(study, images=0))
    by = {v.name: v for v in info.params}
    assert by["weight_decay"].x == (0.01, None)
    assert by["weight_decay"].buckets == (Bucket("0.0001–0.1", 1, 0.4, 0, None),)
    assert info.parallel.lines[1][0] is None  # trial 1 lacks weight_decay
    assert "<h3>Slice plots</h3>" in draw_views(info)


@pytest.mark.parametrize(
    "trials, text",
    [({}, "no finished trial yet"), ({0: TRIALS[0]}, "Isolation plots")],
    ids=["no finished trial", "only the baseline"],
)
def test_edge_studies_draw(trials, text):
    info = get_views_info(_inputs(_study(trials)))
    assert len(info.numbers) == len(trials)
    assert text in draw_views(info)


def test_an_empty_study_and_one_without_parameters():
    assert "no finished trial yet" in draw_views(get_views_info(_inputs(_study({}, {}, False))))
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(value=0.5))
    assert "no searched parameter" in draw_views(get_views_info(_inputs(study)))


def test_ten_thousand_trials_cap_the_lines_and_stay_small(ten_thousand_trials):
    inputs = ten_thousand_trials
    start = time.perf_counter()
    info = get_views_info(inputs)
    middle = time.perf_counter()
    html = draw_views(info)
    end = time.perf_counter()
    print(
        f"views at 10,000 trials: info {middle - start:.2f} s, draw {end - middle:.2f} s, "
        f"{len(html) / 1e6:.2f} MB"
    )
    assert len(info.parallel.lines) == MAX_LINES and info.parallel.baseline is not None
    assert f"the best {MAX_LINES} of {len(info.numbers)}" in html
    assert sum(b.trials for b in info.params[0].buckets) == len(info.numbers)
    assert len(html) < 5e6
