"""Which configurations ``confirm`` reruns: a table of small real studies."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from study import records
from study.ablate.runs import run_key
from study.confirm.select import choose, confirm_seeds, run_specs
from vitlab.errors import UserError

DIST = {"wd": FloatDistribution(0.0, 1.0)}


def _study(trials: list[tuple[float, float | None, bool, TrialState]]) -> optuna.Study:
    """(wd, value, baseline, state) per trial, numbered in order."""
    study = optuna.create_study(direction="maximize")
    for wd, value, baseline, state in trials:
        attrs = {records.BASELINE: True} if baseline else {}
        study.add_trial(
            create_trial(
                state=state,
                value=value if state == TrialState.COMPLETE else None,
                params={"wd": wd},
                distributions=DIST,
                user_attrs=attrs,
            )
        )
    return study


C, P = TrialState.COMPLETE, TrialState.PRUNED


@pytest.mark.parametrize(
    ("trials", "top", "expected"),
    [
        # best first; the baseline (0) appended when it is not among the top
        ([(0.0, 0.3, True, C), (0.1, 0.5, False, C), (0.2, 0.4, False, C)], 2, [1, 2, 0]),
        # the baseline among the top: not twice
        ([(0.0, 0.6, True, C), (0.1, 0.5, False, C), (0.2, 0.4, False, C)], 2, [0, 1]),
        # ties go to the earlier trial; a pruned trial is never chosen
        (
            [
                (0.0, 0.3, True, C),
                (0.1, 0.5, False, C),
                (0.2, 0.5, False, C),
                (0.3, None, False, P),
            ],
            1,
            [1, 0],
        ),
        # the same parameters twice (a retried trial): one configuration, its best trial
        (
            [
                (0.0, 0.3, True, C),
                (0.1, 0.5, False, C),
                (0.1, 0.45, False, C),
                (0.2, 0.4, False, C),
            ],
            2,
            [1, 3, 0],
        ),
        # the baseline re-run under the same parameters counts as the baseline
        ([(0.0, 0.3, True, C), (0.0, 0.55, False, C), (0.2, 0.4, False, C)], 1, [1]),
        # no baseline trial finished: only the top
        ([(0.0, None, True, P), (0.1, 0.5, False, C)], 3, [1]),
    ],
)
def test_choose(trials, top, expected):
    chosen = choose(_study(trials), top)
    assert [c.config.trial for c in chosen] == expected
    baseline = [c.config.trial for c in chosen if c.config.baseline]
    finished_base = [i for i, t in enumerate(trials) if t[2] and t[3] == C]
    if finished_base:
        assert len(baseline) == 1 and trials[baseline[0]][0] == trials[finished_base[0]][0]
    else:
        assert baseline == []


@pytest.mark.parametrize(
    ("trials", "top", "message"),
    [
        ([(0.0, None, True, P)], 5, "no finished trial to confirm"),
        ([(0.0, 0.3, True, C)], 0, "--top 0"),
    ],
)
def test_choose_errors(trials, top, message):
    with pytest.raises(UserError, match=message):
        choose(_study(trials), top)


@pytest.mark.parametrize(("train_seed", "seeds", "expected"), [(0, 3, (1, 2, 3)), (7, 1, (8,))])
def test_seeds_are_fresh(train_seed, seeds, expected):
    assert confirm_seeds(train_seed, seeds) == expected


def test_seeds_must_be_positive():
    with pytest.raises(UserError, match="--seeds 0"):
        confirm_seeds(0, 0)


def test_every_configuration_with_every_seed_and_its_key_recorded():
    chosen = choose(_study([(0.0, 0.3, True, C), (0.1, 0.5, False, C)]), 5)
    specs = run_specs(chosen, (1, 2), 4)
    assert [(s.params["wd"], s.seed, s.epochs) for s in specs] == [
        (0.1, 1, 4),
        (0.1, 2, 4),
        (0.0, 1, 4),
        (0.0, 2, 4),
    ]
    record = chosen[0].record((1, 2), 4)
    assert record["keys"] == [run_key({"wd": 0.1}, 1, 4), run_key({"wd": 0.1}, 2, 4)]
    assert record["keys"] == [s.key for s in specs[:2]]
