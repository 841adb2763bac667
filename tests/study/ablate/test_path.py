"""The measured ablation path, driven stage by stage as the runner drives it, on planted gains."""

from __future__ import annotations

import numpy as np
import pytest

from study.ablate.design import Factor
from study.ablate.fit import Observation
from study.ablate.path import ablation_path, path_next
from study.ablate.plan import path_runs


def drive(gains, seeds=(0, 1, 2), sd=0.002, seed=0):
    """Run the path to its end against an additive planted model; every configuration run."""
    k = len(gains)
    rng = np.random.default_rng(seed)
    obs, stages = [], 0
    while needed := path_next(k, obs, seeds):
        stages += 1
        for config in needed:
            value = 0.4 + sum(g for g, x in zip(gains, config, strict=True) if x > 0)
            obs += [Observation(config, s, value + rng.normal(0, sd)) for s in seeds]
    factors = [Factor(f"f{i}", 0, 1) for i in range(k)]
    return ablation_path(factors, obs, seeds), obs, stages


def test_the_path_takes_the_planted_order_and_measures_the_gains():
    gains = [0.01, 0.05, 0.0, 0.03]
    path, obs, stages = drive(gains)
    assert path.complete and stages == 4 + 1  # four steps, then the leave-one-out
    assert [s.taken.label for s in path.steps] == ["f1", "f3", "f0", "f2"]
    for step in path.steps:
        planted = gains[step.taken.factor]
        assert step.taken.low <= planted <= step.taken.high
        assert step.candidates[0] == step.taken
    for g in path.leave_one_out:
        assert g.low <= gains[g.factor] <= g.high
    assert [g.label for g in path.leave_one_out] == ["f1", "f3", "f0", "f2"]
    assert not path.leave_one_out[-1].excludes_zero  # the null factor
    configs = {o.levels for o in obs}
    # the baseline, 4 + 3 + 2 + 1 changes, and 2 of the 4 leave-one-outs (the step before the
    # last measured the other two)
    assert len(configs) == path_runs(4) == 1 + 10 + 2
    assert path.baseline == pytest.approx(0.4, abs=0.01)
    assert path.target == pytest.approx(0.49, abs=0.01)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_the_path_runs_as_many_configurations_as_planned(k):
    _, obs, _ = drive([0.01 * (i + 1) for i in range(k)])
    assert len({o.levels for o in obs}) == path_runs(k)


def test_one_factor():
    path, obs, _ = drive([0.02])
    assert [s.taken.label for s in path.steps] == ["f0"]
    assert len({o.levels for o in obs}) == path_runs(1) == 2
    assert path.leave_one_out[0].estimate == pytest.approx(path.steps[0].taken.estimate)


def test_ties_take_the_lowest_index():
    path, _, _ = drive([0.02, 0.02], sd=0.0)
    assert [s.taken.factor for s in path.steps] == [0, 1]
    assert path.sigma == pytest.approx(0.0, abs=1e-12)


def test_a_stage_waits_for_every_seed():
    k, seeds = 2, (0, 1)
    obs = [Observation((-1, -1), 0, 0.4)]
    assert path_next(k, obs, seeds) == ((-1, -1), (-1, 1), (1, -1))
    obs += [Observation(c, s, 0.4) for c in ((-1, -1), (-1, 1), (1, -1)) for s in seeds]
    assert path_next(k, obs, seeds) == ((1, 1),)  # a tie takes factor 0: (1, -1) is done


def test_no_interval_without_replicates():
    path, _, _ = drive([0.02, 0.01], seeds=(0,))
    assert path.residual_df == 0 and path.steps[0].taken.low is None
