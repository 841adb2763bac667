"""``audit-pruner`` with real (tiny) training: killed mid-audit and resumed, and each rerun
replaying its original trial up to the epoch it was stopped at."""

from __future__ import annotations

import os
import sys

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from study.ablate.runs import KEY
from study.analysis.audit import REPLAY_TOLERANCE, get_audit_info
from study.report.load import load_inputs
from study.run.runner import RunOptions, run_study
from tests.study.helpers import kill_then_resume, storage_url, write_space


@pytest.fixture
def pruned_study(in_tmp, tiny_manifest):
    """A real 4-trial study whose floor no tiny trial reaches: the 3 non-baseline trials are
    pruned at epoch 1 of 3."""
    space = write_space(in_tmp, trials=4, epochs=3, gap_threshold=None)
    raw = yaml.safe_load(space.read_text())
    raw["pruner"]["wrapped"] = {"type": "floor", "chance_multiple": 20, "n_warmup_steps": 0}
    space.write_text(yaml.safe_dump(raw))
    url = storage_url(in_tmp)
    run_study(RunOptions(space=space, data=tiny_manifest, storage=url), out=open(os.devnull, "w"))
    return url


def finished(url: str) -> dict[int, tuple[str, float]]:
    """Each finished rerun's (key, value) by its trial number ({} before the study exists)."""
    try:
        linked = optuna.load_study(study_name="tiny:audit", storage=url)
    except KeyError:  # not created yet
        return {}
    return {t.number: (t.user_attrs[KEY], t.value) for t in linked.trials if t.value is not None}


@pytest.mark.slow
def test_sigkill_mid_audit_then_resume(pruned_study, in_tmp):
    url = pruned_study
    study = optuna.load_study(study_name="tiny", storage=url)
    pruned = [t.number for t in study.get_trials(states=(TrialState.PRUNED,))]
    assert len(pruned) == 3
    args = [sys.executable, "-m", "study", "audit-pruner", "--storage", url]
    args += ["--heartbeat", "1", "--grace", "3"]
    before, after, r = kill_then_resume(args, in_tmp, lambda: finished(url))
    assert r.returncode == 0, r.stderr
    assert {n: after[n] for n in before} == before  # no finished rerun lost or changed
    keys = [k for k, _ in after.values()]
    assert len(keys) == len(set(keys)) == 3
    assert "next: python -m study report" in r.stdout

    info = get_audit_info(load_inputs(study, None, storage=study._storage))
    assert sorted(t.trial for t in info.trials) == pruned
    assert all(t.stopped_epoch == 1 for t in info.trials)
    # the same parameters and seed on the same machine: the rerun is the same run until the stop
    assert info.replay is not None and info.replay <= REPLAY_TOLERANCE
    assert info.rates[0].audited == 3
