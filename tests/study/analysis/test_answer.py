"""Section 1, the answer: baseline against best, the verdict, the ranked fixes, the page."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from scipy.stats import norm

from study.analysis.answer import (
    AnswerInfo,
    Comparison,
    Verdict,
    draw_answer,
    get_answer_info,
    get_comparison,
    get_verdict,
    searched_params,
)
from study.analysis.findings import Finding, Interval, MatteredInfo
from study.analysis.inputs import Predictions, ReportInputs
from study.analysis.planted import Planted, planted_inputs
from study.analysis.split_view import get_random_split, get_split_table
from study.analysis.trial_states import get_trial_states
from study.frame import trials_frame
from study.records import StudyRecord

DEMO_VERDICT = (
    "5 finished trials for 7 parameters: too few to rank; about 65 more trials, or "
    "`python -m study ablate`, would"
)
# The demo's seven searched parameters (search_spaces/demo.yaml): five fixes, two nuisance.
DEMO_ROLES = {
    "weight_decay": "scientific",
    "label_smoothing": "scientific",
    "drop_rate": "scientific",
    "aug_strength": "scientific",
    "model": "scientific",
    "pretrained": "nuisance",
    "min_images": "nuisance",
    "epochs": "fixed",
}


def _inputs(
    values: list[float | None],
    *,
    baseline: int | None = 0,
    val_images: int = 326,
    roles: dict[str, str] | None = None,
    predictions: dict[int, Predictions] | None = None,
    name: str = "demo",
    states: dict[int, TrialState] | None = None,
) -> ReportInputs:
    """A real study: one COMPLETE trial per value (None: a FAIL), params x (float), m (cat)."""
    study = optuna.create_study(study_name=name, direction="maximize")
    dists = {"x": FloatDistribution(0, 1), "m": CategoricalDistribution(["a", "<b>"])}
    for i, value in enumerate(values):
        state = (states or {}).get(i, TrialState.COMPLETE if value is not None else TrialState.FAIL)
        attrs: dict[str, Any] = {"baseline": i == baseline}
        if value is not None:
            attrs["best"] = {"val_top1": value}
        study.add_trial(
            create_trial(
                state=state,
                value=value if state == TrialState.COMPLETE else None,
                params={"x": i / max(len(values), 1), "m": "a" if i % 2 else "<b>"},
                distributions=dists,
                user_attrs=attrs,
            )
        )
    roles = roles if roles is not None else {"x": "scientific", "m": "nuisance"}
    record = StudyRecord(
        split_summary={"classes": 10, "images_per_split": {"val": val_images}},
        space={"params": {k: {"role": r} for k, r in roles.items()}},
        roles=roles,
        class_counts=[1, 1, 2, 10],
    )
    return ReportInputs(name, trials_frame(study), record, predictions or {})


def _finding(name: str, effect: Interval | None, sentence: str | None = None) -> Finding:
    return Finding(
        name=name,
        role="scientific",
        importance=(("PED-ANOVA", Interval(0.5, 0.2, 0.8)),),
        effect=effect,
        baseline_value=0,
        best_value=1,
        direction="",
        verdict="",
        sentence=sentence or f"{name}: a sentence",
    )


def _mattered(*findings: Finding, trials: int = 30, note: str | None = None) -> MatteredInfo:
    return MatteredInfo("regression", ("PED-ANOVA", "fANOVA"), trials, findings, note=note)


def test_demo_verdict_is_too_few_to_rank():
    assert get_verdict(5, 7, None) == Verdict("too_few", DEMO_VERDICT, 70)
    inputs = _inputs([0.417, 0.433, 0.40, 0.38, 0.41], roles=DEMO_ROLES)
    info = get_answer_info(inputs, _mattered(note="too few trials to rank"))
    assert info.verdict == Verdict("too_few", DEMO_VERDICT, 70)
    assert (info.finished, len(info.searched), info.fixes) == (5, 7, ())
    assert info.fixes_note == "too few trials to rank"
    html = draw_answer(info)
    assert "5 finished trials for 7 parameters: too few to rank" in html
    assert "<code>python -m study ablate</code>" in html


@pytest.mark.parametrize(
    ("trials", "params", "mattered", "expected"),
    [
        (0, 0, None, Verdict("no_params", "no parameter is searched: there is nothing to rank")),
        (
            1,
            1,
            None,
            Verdict(
                "too_few",
                "1 finished trial for 1 parameter: too few to rank; about 9 more "
                "trials, or `python -m study ablate`, would",
                10,
            ),
        ),
        (
            9,
            1,
            None,
            Verdict(
                "too_few",
                "9 finished trials for 1 parameter: too few to rank; about 1 more "
                "trial, or `python -m study ablate`, would",
                10,
            ),
        ),
        (
            30,
            3,
            None,
            Verdict(
                "unknown",
                "30 finished trials for 3 parameters: enough to rank, but "
                "section 2 (what mattered) could not be built",
            ),
        ),
        (
            30,
            3,
            _mattered(note="no finished trial"),
            Verdict(
                "unknown",
                "30 finished trials for 3 parameters: enough to rank, but no finished trial",
            ),
        ),
        (
            30,
            3,
            _mattered(
                _finding("a", Interval(0.05, 0.02, 0.08)),
                _finding("b", Interval(0.01, -0.01, 0.03)),
                _finding("c", None),
            ),
            Verdict("ranked", "1 of 3 parameters have effects beyond noise"),
        ),
        # Half-width 0.02 against an estimate of 0.01: (0.02 / 0.01)^2 = 4 x 30 = 120 trials.
        (
            30,
            2,
            _mattered(
                _finding("a", Interval(0.01, -0.01, 0.03)),
                _finding("b", Interval(-0.001, -0.03, 0.028)),
            ),
            Verdict(
                "no_effect",
                "30 finished trials for 2 parameters: enough to rank, but no parameter's "
                "effect is beyond noise; if the clearest estimate held, about 90 more trials "
                "(intervals narrow as 1/√n) would tell",
                120,
            ),
        ),
        (
            20,
            2,
            _mattered(_finding("a", Interval(0.0, -0.01, 0.01)), _finding("b", None)),
            Verdict(
                "no_effect",
                "20 finished trials for 2 parameters: enough to rank, but no parameter's "
                "effect is beyond noise; every estimate is zero",
            ),
        ),
    ],
)
def test_verdicts(trials, params, mattered, expected):
    assert get_verdict(trials, params, mattered) == expected


def test_searched_params_skip_fixed_and_default_to_scientific():
    inputs = _inputs([0.4], roles=DEMO_ROLES)
    assert searched_params(inputs) == tuple((k, r) for k, r in DEMO_ROLES.items() if r != "fixed")
    bare = ReportInputs("s", inputs.frame)  # no space, no roles: the frame's params_ columns
    assert searched_params(bare) == (("m", "scientific"), ("x", "scientific"))


def test_paired_comparison_by_hand():
    labels = np.arange(10) % 3
    base = Predictions(labels, np.where(np.arange(10) < 5, labels, -1))  # 5 of 10 right
    best = Predictions(labels, np.where(np.arange(10) < 8, labels, -1))  # 8 of 10, 3 more
    inputs = _inputs([0.5, 0.8, 0.6], predictions={0: base, 1: best})
    got = get_comparison(inputs)
    # McNemar's exact test: 3 discordant images, all for the best: p = 2 * 0.5^3.
    assert (got.kind, got.difference, got.p_value, got.images) == (
        "compared",
        pytest.approx(0.3),
        pytest.approx(0.25),
        10,
    )
    assert (got.baseline_number, got.baseline_top1, got.best_number, got.best_top1) == (
        0,
        0.5,
        1,
        0.8,
    )
    assert got.paired and got.note is None and got.low <= 0.3 <= got.high
    assert not got.beyond_noise  # 3 images of 10 cannot settle it
    assert "McNemar p = 0.25" in draw_answer(get_answer_info(inputs, None))


def test_unpaired_fallback_by_hand():
    inputs = _inputs([0.4, 0.5], val_images=100)
    se = math.sqrt((0.4 * 0.6 + 0.5 * 0.5) / 100)
    z = norm.ppf(0.975)
    assert get_comparison(inputs) == Comparison(
        "compared",
        0,
        0.4,
        1,
        0.5,
        difference=pytest.approx(0.1),
        low=pytest.approx(0.1 - z * se),
        high=pytest.approx(0.1 + z * se),
        p_value=pytest.approx(2 * norm.sf(0.1 / se)),
        paired=False,
        images=100,
        note="unpaired binomial interval (val predictions are missing): wider than a paired one",
    )
    labels = np.zeros(5, dtype=np.int64)
    apart = {0: Predictions(labels, labels), 1: Predictions(labels[:4], labels[:4])}
    other = get_comparison(_inputs([0.4, 0.5], val_images=100, predictions=apart))
    assert other.note == "unpaired binomial interval (on different images): wider than a paired one"
    assert (other.low, other.high) == (pytest.approx(0.1 - z * se), pytest.approx(0.1 + z * se))
    no_size = get_comparison(_inputs([0.4, 0.5], val_images=0))
    assert no_size.low is None and not no_size.beyond_noise
    assert "no interval" in draw_answer(get_answer_info(_inputs([0.4, 0.5], val_images=0), None))


@pytest.mark.parametrize(
    ("values", "baseline", "kind", "text"),
    [
        ([0.4, 0.5], None, "no_baseline", "No baseline trial (the seed's recipe) has finished"),
        ([0.6, 0.5], 0, "best_is_baseline", "it is the best trial: no searched trial beat it"),
        ([None, None], 0, "no_trials", "No trial has finished yet"),
        ([], 0, "no_trials", "No trial has finished yet"),
    ],
)
def test_comparison_edge_cases(values, baseline, kind, text):
    inputs = _inputs(values, baseline=baseline)
    info = get_answer_info(inputs, None)
    assert info.comparison.kind == kind
    html = draw_answer(info)
    assert text in html.replace("&#x27;", "'")
    assert "Section 2 (what mattered) could not be built" in html


def test_running_and_pruned_trials_are_not_compared():
    states = {1: TrialState.RUNNING, 2: TrialState.PRUNED}
    info = get_answer_info(_inputs([0.4, 0.9, 0.8], states=states), None)
    assert info.comparison.kind == "best_is_baseline" and info.finished == 1
    assert dict(info.trials.counts)["RUNNING"] == 1 and dict(info.trials.counts)["PRUNED"] == 1


def test_answer_info_by_hand():
    inputs = _inputs([0.42, 0.45, None], val_images=326)
    mattered = _mattered(_finding("x", Interval(0.03, 0.01, 0.05), "x: the largest effect"))
    info = get_answer_info(inputs, mattered)
    verdict = Verdict(
        "too_few",
        "2 finished trials for 2 parameters: too few to rank; about 18 more trials, or "
        "`python -m study ablate`, would",
        20,
    )
    # Too few trials: the finding is not shown as a ranking, however sure it looks.
    assert info == AnswerInfo(
        study_name="demo",
        comparison=get_comparison(inputs),
        fixes=(),
        fixes_note="No ranking: " + verdict.text + ".",
        finished=2,
        searched=(("x", "scientific"), ("m", "nuisance")),
        val_images=326,
        noise_floor=math.sqrt(0.42 * 0.58 / 326),
        verdict=verdict,
        split=get_split_table(inputs.study.split_summary),
        random_split=get_random_split([1, 1, 2, 10]),
        trials=get_trial_states(inputs.frame),
    )
    html = draw_answer(info)
    assert "one standard error of val top-1 on these 326 val images is 2.7 points" in html


def test_ranked_fixes_in_order():
    inputs = _inputs([0.4 + i / 100 for i in range(20)])
    mattered = _mattered(
        _finding("x", Interval(0.05, 0.02, 0.08), "x: the largest effect, +5 ± 3 points"),
        _finding(
            "m", Interval(0.0, -0.02, 0.02), "m: not distinguishable from noise in this study"
        ),
        trials=20,
    )
    info = get_answer_info(inputs, mattered)
    assert info.verdict == Verdict("ranked", "1 of 2 parameters have effects beyond noise")
    assert info.fixes == (
        "x: the largest effect, +5 ± 3 points",
        "m: not distinguishable from noise in this study",
    )
    html = draw_answer(info)
    assert html.index("x: the largest effect") < html.index("m: not distinguishable")


def test_escaping():
    bad = "<script>alert(1)</script>"
    roles = {bad: "scientific", "x": "nuisance"}
    inputs = _inputs([0.4 + i / 100 for i in range(20)], roles=roles, name=bad)
    mattered = _mattered(_finding(bad, Interval(0.05, 0.02, 0.08), f"{bad}: matters"))
    info = get_answer_info(inputs, mattered)
    assert info.fixes == (f"{bad}: matters",) and info.searched[0] == (bad, "scientific")
    html = draw_answer(info)
    assert "<script" not in html and "&lt;script&gt;" in html


def test_planted_tpe_study_with_big_effects_is_beyond_noise():
    planted = Planted(effects={"weight_decay": 0.30, "aug_strength": -0.20}, nulls=("drop_rate",))
    inputs = planted_inputs(planted, 40, seed=0)
    info = get_answer_info(inputs, None)
    # The baseline (weight decay 0.1, no augmentation) against a best near weight decay 1.
    assert info.comparison.paired and info.comparison.beyond_noise
    assert info.comparison.difference > 0.1
    assert info.verdict.kind == "unknown"  # enough trials; section 2's findings are missing
    html = draw_answer(info)
    assert "beyond noise" in html and "paired over the same 326 val images" in html


def test_planted_tpe_study_with_big_effects_is_ranked():
    mattered_module = pytest.importorskip("study.analysis.mattered")
    planted = Planted(effects={"weight_decay": 0.30, "aug_strength": -0.20}, nulls=("drop_rate",))
    inputs = planted_inputs(planted, 40, seed=0)
    info = get_answer_info(inputs, mattered_module.get_mattered_info(inputs, resamples=50))
    assert info.verdict.kind == "ranked"
    assert info.verdict.text.endswith("of 3 parameters have effects beyond noise")
    assert len(info.fixes) == 3
