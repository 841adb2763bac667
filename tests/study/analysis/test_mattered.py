"""Section 2, what mattered: on hand-built frames and on planted studies run through TPE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from study.analysis import effects as eff
from study.analysis import importance as imp
from study.analysis.findings import Finding, Interval, MatteredInfo
from study.analysis.inputs import ReportInputs
from study.analysis.mattered import NOISE, _disagreement, draw_mattered, get_mattered_info
from study.analysis.planted import Planted, planted_inputs
from study.records import StudyRecord

SPACE = {
    "params": {
        "x": {"type": "float", "low": 0.0, "high": 1.0, "role": "scientific"},
        "model": {"type": "categorical", "choices": ["vit_micro", "vit_mini"], "role": "nuisance"},
        "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True, "role": "fixed"},
    },
    "fixed": {"epochs": 15},
}
ROLES = {"x": "scientific", "model": "nuisance", "lr": "fixed"}
TOO_FEW = "too few finished trials to estimate its effect"


def _inputs(rows: list[dict], *, baseline: dict | None = None, name: str = "s") -> ReportInputs:
    frame = pd.DataFrame(
        {
            "number": pd.Series([i for i, _ in enumerate(rows)], dtype="int64"),
            "state": pd.Series([r.get("state", "COMPLETE") for r in rows], dtype="string"),
            "value": pd.Series([r.get("value") for r in rows], dtype="float64"),
            "baseline": pd.Series([i == 0 and r.get("b", True) for i, r in enumerate(rows)]),
            **{
                f"params_{k}": pd.Series([r.get(k) for r in rows])
                for k in ("lr", "model", "x")
                if any(k in r for r in rows)
            },
        }
    )
    record = StudyRecord(space=SPACE, roles=ROLES, baseline_params=baseline or {})
    return ReportInputs(study_name=name, frame=frame, study=record)


def _row(x, model, value, **kw):
    return {"x": x, "model": model, "lr": 1e-3, "value": value, **kw}


def test_a_tiny_study_by_hand():
    rows = [
        _row(0.1, "vit_micro", 0.40),
        _row(0.5, "vit_mini", 0.45),
        _row(0.9, "vit_mini", None, state="FAIL"),
        _row(0.7, "vit_micro", None, state="RUNNING"),
    ]
    info = get_mattered_info(_inputs(rows, baseline={"x": 0.1, "model": "vit_micro"}))
    found = {"importance": (), "effect": None, "direction": eff.NO_DIRECTION, "verdict": TOO_FEW}
    assert info == MatteredInfo(
        effect_method=eff.METHOD,
        evaluators=imp.EVALUATORS,
        trials=2,
        findings=(
            Finding(
                name="x",
                role="scientific",
                baseline_value=0.1,
                best_value=0.5,
                sentence=f"x: {TOO_FEW}",
                **found,
            ),
        ),
        nuisance=(
            Finding(
                name="model",
                role="nuisance",
                baseline_value="vit_micro",
                best_value="vit_mini",
                sentence=f"model: {TOO_FEW}",
                **found,
            ),
        ),
        fixed=("epochs", "lr"),
        note="2 finished trials for 1 scientific parameter: too few to rank (ranking needs 10); "
        "shown in the search space's order.",
    )


def _linear_rows(n: int, seed: int = 0, noise: float = 0.0) -> list[dict]:
    """The baseline first (x 0.1, vit_micro); val top-1 = 0.3 + 0.2 x + 0.05 if vit_mini."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([[0.1], rng.random(n - 1)])
    models = ["vit_micro", *rng.choice(["vit_micro", "vit_mini"], n - 1)]
    value = 0.3 + 0.2 * x + 0.05 * (np.array(models) == "vit_mini") + rng.normal(0, noise, n)
    return [_row(float(a), str(m), float(v)) for a, m, v in zip(x, models, value, strict=True)]


def test_a_noise_free_study_measures_its_effects_exactly():
    rows = _linear_rows(40)
    info = get_mattered_info(_inputs(rows, baseline={"x": 0.1, "model": "vit_micro"}), resamples=3)
    (x,), (model,) = info.findings, info.nuisance
    best = max(rows, key=lambda r: r["value"])
    assert x.effect.estimate == pytest.approx(0.2 * (best["x"] - 0.1))
    assert x.effect.low == pytest.approx(x.effect.estimate)
    assert model.effect.estimate == pytest.approx(0.05 if best["model"] == "vit_mini" else 0.0)
    assert x.direction == "more x → better"
    assert x.verdict == f"beyond noise: {100 * x.effect.estimate:+.1f} points " + (
        f"(95 % interval {100 * x.effect.low:+.1f} to {100 * x.effect.high:+.1f})"
    )
    assert [label for label, _ in x.importance] == list(imp.EVALUATORS)
    assert info.note is None and info.trials == 40 and info.fixed == ("epochs", "lr")
    assert "40 finished trials" in info.resampling


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([], id="no trials"),
        pytest.param([_row(0.1, "vit_micro", None, state="RUNNING")], id="none finished"),
        pytest.param([_row(0.1, "vit_micro", 0.4)], id="only the baseline"),
        pytest.param([{**r, "b": False} for r in _linear_rows(30, noise=0.02)], id="no baseline"),
        pytest.param(
            [_row(0.1, "vit_micro", 0.4), _row(0.2, "vit_mini", 0.3, state="PRUNED")]
            + [_row(0.3, "vit_mini", None, state=s) for s in ("FAIL", "RUNNING", "WAITING")]
            + _linear_rows(25, noise=0.02)[1:],
            id="every state",
        ),
        pytest.param(
            [{k: v for k, v in r.items() if k != "model"} for r in _linear_rows(20)], id="no model"
        ),
    ],
)
def test_edge_cases_do_not_raise(rows):
    info = get_mattered_info(_inputs(rows), resamples=2)
    assert [f.name for f in info.findings] == ["x"]
    html = draw_mattered(info)
    assert "x" in html and "epochs" in html


def test_no_baseline_says_so():
    rows = [{**r, "b": False} for r in _linear_rows(30, noise=0.02)]
    (x,) = get_mattered_info(_inputs(rows), resamples=2).findings
    assert (x.effect, x.verdict) == (None, "no baseline value to measure from")


def test_draw_escapes_names_and_shows_the_key_text():
    rows = [{**r, "<script>alert(1)</script>": r["x"]} for r in _linear_rows(40, noise=0.01)]
    inputs = _inputs(rows)
    frame = inputs.frame.assign(**{"params_<script>alert(1)</script>": [r["x"] for r in rows]})
    inputs = ReportInputs(study_name="<script>s</script>", frame=frame, study=inputs.study)
    info = get_mattered_info(inputs, resamples=2)
    html = draw_mattered(info)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for text in ("PED-ANOVA", "fANOVA", "least squares", "Nuisance parameters", "Fixed"):
        assert text in html
    assert 'id="mattered-importance"' in html  # ranked: the chart is drawn


def test_disagreement_names_the_params():
    def finding(name: str, ped: float, fan: float) -> Finding:
        scores = (("PED-ANOVA", Interval(ped, 0, 1)), ("fANOVA", Interval(fan, 0, 1)))
        return Finding(name, "scientific", scores, None, 0, 0, "", "", "")

    assert _disagreement([finding("a", 0.6, 0.7), finding("b", 0.4, 0.3)]) is None
    assert _disagreement([finding("a", 0.3, 0.7), finding("b", 0.7, 0.3)]) == (
        "The two evaluators rank a, b differently (PED-ANOVA: b > a; fANOVA: a > b)."
    )


RANKED = Planted(effects={"a": 0.2, "b": -0.1}, nulls=("c",), baseline={"a": 0.1, "b": 0.5, "c": 0})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_ranking_is_recovered_and_the_null_is_noise(seed):
    """Effects of 20 and 10 points across the range, against ~2.7 points of noise."""
    lines: list[str] = []
    info = get_mattered_info(
        planted_inputs(RANKED, 120, seed=seed), resamples=5, seed=seed, progress=lines.append
    )
    assert [f.name for f in info.findings] == ["a", "b", "c"]
    a, b, c = info.findings
    assert a.distinguishable and b.distinguishable and c.verdict == NOISE
    assert c.sentence == f"c: {NOISE}"
    assert a.sentence.startswith("a: the largest effect beyond noise, +")
    assert (a.direction, b.direction) == ("more a → better", "more b → worse")
    assert len(lines) == 2 and "importance by PED-ANOVA and fANOVA" in lines[0]


def test_planted_intervals_cover_the_planted_effects():
    """Over 20 TPE studies the 95 % intervals cover the truth near their nominal rate."""
    planted, covered = Planted(), []
    for seed in range(20):
        info = get_mattered_info(planted_inputs(planted, 80, seed=seed), resamples=2, seed=seed)
        for f in info.findings:
            if f.name in planted.effects:
                truth = planted.effects[f.name] * (f.best_value - f.baseline_value)
                covered.append(f.effect.low <= truth <= f.effect.high)
    assert len(covered) == 40
    assert 0.8 <= np.mean(covered) <= 1.0


def test_a_five_trial_study_is_told_it_cannot_rank():
    info = get_mattered_info(planted_inputs(Planted(), 5, seed=0))
    assert info.note is not None and "too few to rank" in info.note
    assert [f.name for f in info.findings] == list(Planted().names)  # the space's order
    assert info.disagreement is None
    html = draw_mattered(info)
    assert "too few to rank" in html and "mattered-importance" not in html
    assert "<td>1</td>" not in html  # no rank numbers
