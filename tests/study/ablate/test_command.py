"""``ablate`` through its real machinery (plan, linked study, claims, fit) on real SQLite storage,
with a fake training function whose answer is planted."""

from __future__ import annotations

import io

import optuna
import pytest
from optuna.trial import TrialState

from study.ablate.command import AblateOptions, ablate
from study.ablate.fit import FactorialFit
from study.ablate.path import AblationPath
from study.ablate.runs import KEY, designs, linked_name, observed
from study.ablate.summary import fit_plan
from study.cli import main
from tests.study.ablate.planted import INTERACTION, PLANTED, TARGET, planted_value, recorded_study
from vitlab.errors import UserError


def planted_measure(run, linked, gate):
    baseline = run.record.baseline_params
    return lambda trial, spec: planted_value(spec, baseline)


def run_ablation(url: str, **options):
    out = io.StringIO()
    plan = ablate(AblateOptions(storage=url, **options), out=out, measure=planted_measure)
    names = optuna.get_all_study_names(storage=url)
    if linked_name("tiny") not in names:
        return plan, None, out.getvalue()
    linked = optuna.load_study(study_name=linked_name("tiny"), storage=url)
    return plan, linked, out.getvalue()


def test_a_full_factorial_recovers_the_planted_effects(tmp_path):
    url = recorded_study(tmp_path)
    plan, linked, out = run_ablation(url, to="fix_list", seeds=3)
    assert sorted(f.name for f in plan.factors) == sorted(PLANTED)  # lr, a nuisance, is none
    done = linked.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 16 * 3 == plan.total_runs()
    assert {t.params["lr"] for t in done} == {2e-3}  # nuisance held at the target's value
    first = done[0].user_attrs  # what a run records: its point, levels, seed, the study
    assert first["ablate_point"] == "factorial to fix_list, 3 seeds, 3 epochs: point 1 of 16"
    assert set(first["ablate_levels"].values()) == {"baseline"}
    assert (first["ablate_seed"], first["measures"]) == (0, "tiny")
    fit = fit_plan(plan, observed(linked))
    assert isinstance(fit, FactorialFit) and fit.complete
    by_name = {e.label: e for e in fit.mains}
    for name, planted in PLANTED.items():
        e = by_name[name]
        assert e.low <= planted / 100 <= e.high, (name, e)
    # the order of the planted sizes is recovered; the null factor is not told from noise
    assert [e.label for e in fit.mains] == sorted(PLANTED, key=lambda n: -abs(PLANTED[n]))
    assert not by_name["min_images"].excludes_zero
    pair, size = INTERACTION
    inter = {frozenset(e.label.split(" × ")): e for e in fit.interactions}[frozenset(pair)]
    assert inter.excludes_zero and inter.low <= size / 100 <= inter.high
    assert "weight_decay: changes val top-1 by +" in out
    assert out.strip().splitlines()[-1].startswith("next: python -m study confirm")
    assert "report: python -m study report" in out


def test_rerunning_the_same_ablation_runs_nothing_again(tmp_path):
    url = recorded_study(tmp_path)
    run_ablation(url, to="fix_list", seeds=1)
    _, linked, out = run_ablation(url, to="fix_list", seeds=1)
    keys = [t.user_attrs[KEY] for t in linked.trials]
    assert len(keys) == len(set(keys)) == 16
    assert "runs: 16 (16 done)" in out and "run 1/16" not in out


def test_the_path_takes_the_planted_order_of_gains(tmp_path):
    url = recorded_study(tmp_path)
    plan, linked, _ = run_ablation(url, to="fix_list", design="path", seeds=3)
    path = fit_plan(plan, observed(linked))
    assert isinstance(path, AblationPath) and path.complete
    # the biggest gain first; drop_rate costs 3 points, so it is taken last
    assert [s.taken.label for s in path.steps] == [
        "weight_decay",
        "label_smoothing",
        "min_images",
        "drop_rate",
    ]
    first = path.steps[0].taken  # from the baseline: 6 - 2 (the interaction at drop -1) = 4
    assert first.low <= (PLANTED["weight_decay"] - INTERACTION[1]) / 100 <= first.high
    loo = {g.label: g for g in path.leave_one_out}
    assert loo["label_smoothing"].low <= PLANTED["label_smoothing"] / 100
    assert loo["label_smoothing"].high >= PLANTED["label_smoothing"] / 100
    # the factorial's corner runs are the path's too: asking for both shares them
    assert len(observed(linked)) == len({t.user_attrs[KEY] for t in linked.trials})
    assert [d["design"] for d in designs(linked)] == ["path"]


def test_plan_prints_the_design_and_runs_nothing(tmp_path):
    url = recorded_study(tmp_path)
    _, linked, out = run_ablation(url, to="fix_list", plan_only=True)
    assert "design: full 2^4, 16 points" in out
    # 32 runs x 3 epochs x the study's 4 s per epoch (12 s for 3 epochs) = 6.4 min at most
    assert "runs: 32 (0 done); estimated time: at most 6 min (4.0 s per epoch" in out
    assert "expected 95 % interval of each effect: +/- " in out
    assert "run it: python -m study ablate --study tiny" in out
    assert linked.trials == []


def test_the_best_trial_as_target(tmp_path):
    url = recorded_study(tmp_path, best={"weight_decay": 0.1, "lr": 5e-3})
    plan, linked, _ = run_ablation(url, seeds=1)
    assert [f.name for f in plan.factors] == ["weight_decay"]
    assert {t.params["lr"] for t in linked.trials} == {5e-3}  # the target's nuisance value
    assert len(linked.trials) == 2


def test_a_target_equal_to_the_baseline_says_so(tmp_path):
    url = recorded_study(tmp_path)  # the baseline is the best trial
    plan, linked, out = run_ablation(url)
    assert plan is None and linked is None
    assert "nothing to ablate" in out and "name a point with --to (fix_list)" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--to", "nowhere"], "--to nowhere: not a point of the space"),
        (["--study", "other"], "has no study 'other'"),
        (["--seeds", "0"], "must be an integer > 0"),
        (["--design", "grid"], "invalid choice: 'grid'"),
    ],
)
def test_bad_options_are_one_line(tmp_path, capsys, argv, message):
    url = recorded_study(tmp_path)
    try:
        code = main(["ablate", "--storage", url, "--plan", *argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_unknown_study_record_is_an_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(study_name="bare", storage=url)
    with pytest.raises(UserError, match="bare"):
        ablate(AblateOptions(storage=url), out=io.StringIO(), measure=planted_measure)


def test_target_values_shipped_in_the_spaces():
    from study.space.load import load_space

    for path in ("search_spaces/demo.yaml", "search_spaces/vit_regularization.yaml"):
        point = load_space(path).points["fix_list"]
        assert (point["weight_decay"], point["label_smoothing"], point["drop_rate"]) == (
            0.05,
            0.2,
            0.3,
        )
        assert point["min_images"] == 5
    assert TARGET["min_images"] == 3
