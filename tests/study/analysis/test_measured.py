"""The "Measured effects" section and the answer's use of it, on real recorded studies."""

from __future__ import annotations

import io
import math

import optuna
import pytest
from scipy.stats import t as student_t

from study.ablate.command import AblateOptions, ablate
from study.ablate.design import Factor
from study.ablate.plan import AblationPlan
from study.analysis.answer import draw_answer, get_answer_info
from study.analysis.inputs import AblationRuns, ReportInputs
from study.analysis.measured import DesignResult, MeasuredInfo, Term, get_measured_info
from study.analysis.measured_draw import draw_measured
from study.frame import trials_frame
from study.records import StudyRecord
from study.report.load import load_inputs
from tests.study.ablate.planted import planted_value, recorded_study


def inputs_of(url: str, ablation: AblationRuns | None = None) -> ReportInputs:
    study = optuna.load_study(study_name="tiny", storage=url)
    return ReportInputs(
        "tiny", trials_frame(study), StudyRecord.from_study(study), ablation=ablation
    )


def one_factor_plan(record: StudyRecord) -> AblationPlan:
    baseline = dict(record.baseline_params)
    return AblationPlan(
        study="tiny",
        target_name="wd",
        target_label="point wd",
        baseline=baseline,
        target={**baseline, "weight_decay": 0.05},
        factors=(Factor("weight_decay", 0.01, 0.05),),
        design="factorial",
        seeds=(0, 1),
        epochs=3,
    )


def test_a_one_factor_design_by_hand(tmp_path):
    url = recorded_study(tmp_path)
    plain = inputs_of(url)
    plan = one_factor_plan(plain.study)
    values = {
        plan.spec((-1,), 0).key: 0.40,
        plan.spec((-1,), 1).key: 0.42,
        plan.spec((1,), 0).key: 0.50,
        plan.spec((1,), 1).key: 0.46,
    }
    info = get_measured_info(inputs_of(url, AblationRuns((plan.record(),), values)))
    half = student_t.ppf(0.975, 2) * math.sqrt((2 * 0.01**2 + 2 * 0.02**2) / 2)
    (design,) = info.designs
    (term,) = design.effects
    assert term.estimate == pytest.approx(0.07)
    assert (term.low, term.high) == (pytest.approx(0.07 - half), pytest.approx(0.07 + half))
    assert design == DesignResult(
        name="factorial to wd, 2 seeds, 3 epochs",
        design="factorial",
        target_label="point wd",
        description="full 2^1 factorial, 2 points",
        seeds=2,
        epochs=3,
        done=4,
        total=4,
        effects=(
            Term(
                label="weight_decay",
                estimate=term.estimate,
                low=term.low,
                high=term.high,
                baseline_value=0.01,
                target_value=0.05,
                agreement="no estimate from the search (too few finished trials for its fit)",
            ),
        ),
        half_width=design.half_width,
        residual_df=2,
    )
    assert design.half_width == pytest.approx(half) and design.complete
    assert not term.excludes_zero  # 0.07 ± 0.096: not told from noise with two seeds
    html = draw_measured(info)
    assert "weight_decay" in html and "not distinguishable from noise" in html
    assert "Minimum detectable effect" in html


def test_a_partial_design_says_so(tmp_path):
    url = recorded_study(tmp_path)
    plan = one_factor_plan(inputs_of(url).study)
    values = {plan.spec((-1,), 0).key: 0.4, plan.spec((1,), 0).key: 0.5}
    values[plan.spec((1,), 1).key] = 0.48
    (design,) = get_measured_info(inputs_of(url, AblationRuns((plan.record(),), values))).designs
    assert (design.done, design.total, design.complete) == (3, 4, False)
    assert design.note == "3 of 4 runs done: a partial result"


@pytest.mark.parametrize(
    "best, suggestion",
    [
        # one factor (weight decay; lr is a nuisance): 2 points x 2 seeds, 3 epochs of 4 s
        (
            {"weight_decay": 0.1, "lr": 5e-3},
            "`python -m study ablate --study tiny` would measure them: 4 runs of 3 epochs, "
            "at most about 1 min",
        ),
        # the baseline is the best: the space's point, 4 factors, 16 points x 2 seeds
        (
            None,
            "`python -m study ablate --study tiny --to fix_list` would measure them: 32 runs of "
            "3 epochs, at most about 6 min",
        ),
    ],
)
def test_without_an_ablation_the_section_says_how_to_measure(tmp_path, best, suggestion):
    inputs = inputs_of(recorded_study(tmp_path, best=best))
    info = get_measured_info(inputs)
    assert info == MeasuredInfo((), suggestion)
    assert "No designed ablation has run" in draw_measured(info)
    answer = get_answer_info(inputs, None, info)  # the answer says how to measure, too
    assert answer.measure_hint == suggestion and answer.measured_by is None
    assert "would measure them" in draw_answer(answer)


def test_a_measured_ablation_ranks_the_answer(tmp_path):
    url = recorded_study(tmp_path)

    def measure(run, linked, gate):
        return lambda trial, spec: planted_value(spec, run.record.baseline_params)

    ablate(AblateOptions(storage=url, to="fix_list", seeds=2), out=io.StringIO(), measure=measure)
    study = optuna.load_study(study_name="tiny", storage=url)
    inputs = load_inputs(study, None, storage=study._storage)
    measured = get_measured_info(inputs)
    (design,) = measured.designs
    assert design.complete and design.done == 32
    assert [t.label for t in design.effects][:2] == ["weight_decay", "drop_rate"]
    answer = get_answer_info(inputs, None, measured)
    assert answer.verdict.kind == "measured"
    assert answer.verdict.text.startswith("measured by 32 designed reruns (full 2^4 factorial")
    assert answer.fixes[0].startswith("weight_decay (from 0.01 to 0.05): +6.")
    assert answer.measured_by == "full 2^4 factorial, 16 points, to point fix_list"
    assert "The ranked fixes (measured: full 2^4 factorial" in draw_answer(answer)
    flagged = [t.label for t in design.interactions if t.excludes_zero]
    assert set(flagged[0].split(" × ")) == {"weight_decay", "drop_rate"}


@pytest.mark.parametrize(
    "measured, surrogate, agreement",
    [
        ((0.05, 0.03, 0.07), (0.04, 0.01, 0.07), "consistent: the intervals overlap"),
        ((0.05, 0.03, 0.07), (-0.02, -0.05, 0.01), "disagree: the intervals do not overlap"),
        ((0.05, None, None), (0.04, 0.01, 0.07), "no measured interval to compare"),
        (
            (0.05, 0.03, 0.07),
            None,
            "no estimate from the search (too few finished trials for its fit)",
        ),
    ],
)
def test_agreement_between_the_measurement_and_the_search(measured, surrogate, agreement):
    from study.analysis.measured import _agreement

    term = Term("wd", *measured, surrogate=surrogate)
    assert _agreement(term) == agreement


def test_names_are_escaped():
    bad = "<script>alert(1)</script>"
    term = Term(bad, 0.05, 0.01, 0.09, baseline_value=bad, target_value=1)
    design = DesignResult(bad, "path", bad, bad, 2, 3, 4, 4, effects=(term,), steps=(term,))
    html = draw_measured(MeasuredInfo((design,)))
    assert bad not in html and "&lt;script&gt;" in html


def test_the_report_page_shows_the_measured_section(tmp_path):
    from study.report.publish import report_study

    url = recorded_study(tmp_path)

    def measure(run, linked, gate):
        return lambda trial, spec: planted_value(spec, run.record.baseline_params)

    ablate(AblateOptions(storage=url, to="fix_list", seeds=2), out=io.StringIO(), measure=measure)
    page = report_study(  # the default study: the linked one is not counted
        storage_url=url, path=tmp_path / "r.html", artifacts=tmp_path / "none", out=io.StringIO()
    ).read_text()
    assert 'class="broken"' not in page
    assert "Measured effects" in page and "full 2^4 factorial, 16 points" in page
    assert "The ranked fixes (measured: full 2^4 factorial" in page
