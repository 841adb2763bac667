"""``confirm`` on a small real study: K x S reruns with real (tiny) training, their test
scores, the report's section, and a SIGKILL in the middle."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from study import records
from study.ablate.runs import KEY, RUN_SEED, linked_name
from study.analysis.markup import pct
from study.confirm.command import ConfirmOptions, confirm
from study.confirm.select import CONFIGS_ATTR, SUFFIX, TEST_ATTR
from study.report.publish import report_study
from study.run.runner import RunOptions, run_study
from tests.study.helpers import kill_then_resume, storage_url, write_space


@pytest.fixture
def tiny_study(in_tmp, tiny_manifest):
    """A real 3-trial study of the tests' tiny space (3 epochs)."""
    space = write_space(in_tmp, trials=3, epochs=3, gap_threshold=None)
    url = storage_url(in_tmp)
    run_study(RunOptions(space=space, data=tiny_manifest, storage=url), out=open(os.devnull, "w"))
    return url


def linked(url: str) -> optuna.Study:
    return optuna.load_study(study_name=linked_name("tiny", SUFFIX), storage=url)


def finished(url: str) -> dict[int, tuple[str, float]]:
    """Each finished run's (key, value) by its trial number ({} before the study exists)."""
    try:
        done = linked(url).get_trials(states=(TrialState.COMPLETE,))
    except KeyError:  # the linked study does not exist yet
        return {}
    return {t.number: (t.user_attrs[KEY], t.value) for t in done}


def test_confirm_reruns_k_by_s_and_scores_test_once(tiny_study, in_tmp):
    url = tiny_study
    printed = io.StringIO()
    chosen = confirm(ConfirmOptions(storage=url, top=2, seeds=2), out=printed)
    out = printed.getvalue()
    study = linked(url)
    runs = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(runs) == 2 * len(chosen) and len(chosen) in (2, 3)  # + the baseline if not top
    assert len({t.user_attrs[KEY] for t in runs}) == len(runs)
    assert sorted(t.user_attrs[RUN_SEED] for t in runs) == sorted([1, 2] * len(chosen))
    for t in runs:
        assert 0.0 <= t.user_attrs[records.TEST_TOP1] <= 1.0
        assert t.user_attrs[records.TEST_PREDICTIONS]  # the per-image file, for paired tests
        assert 1 <= t.user_attrs["test_epoch"] <= 3
        assert t.user_attrs[records.ENDED]  # the study's objective ran it (its records)
    configs = study.user_attrs[CONFIGS_ATTR]
    assert [c["trial"] for c in configs] == [c.config.trial for c in chosen]
    assert any(c["baseline"] for c in configs)
    test = study.user_attrs[TEST_ATTR]
    assert test["images"] > 0 and test["classes"] == 24
    assert test["test_classes"] + test["thin_classes"] == 24
    assert "next: python -m study audit-pruner --study tiny" in out
    # the report's section, with the winner's numbers
    path = report_study(storage_url=url, out=io.StringIO())
    html = path.read_text()
    assert "Confirmed on held-out test" in html and "Not confirmed yet" not in html
    winner = [
        t.user_attrs[records.TEST_TOP1] for t in runs if t.user_attrs[KEY] in configs[0]["keys"]
    ]
    assert len(winner) == 2
    assert f"{pct(sum(winner) / 2)} (" in html  # the test mean with its interval
    assert "fewer than 10 images have no test image" in html
    # the same command again: every run is kept, none is rerun
    confirm(ConfirmOptions(storage=url, top=2, seeds=2), out=io.StringIO())
    assert len(linked(url).trials) == len(runs)


@pytest.mark.slow
def test_sigkill_mid_confirm_then_resume(tiny_study, in_tmp):
    url = tiny_study
    args = [sys.executable, "-m", "study", "confirm", "--storage", url, "--top", "1"]
    args += ["--seeds", "3", "--heartbeat", "1", "--grace", "3"]
    before, after, r = kill_then_resume(args, in_tmp, lambda: finished(url))
    assert r.returncode == 0, r.stderr
    assert {n: after[n] for n in before} == before  # no finished run lost or changed
    keys = [k for k, _ in after.values()]
    configs = len(linked(url).user_attrs[CONFIGS_ATTR])
    assert len(keys) == len(set(keys)) == 3 * configs
    assert not linked(url).get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    assert "next: python -m study audit-pruner" in r.stdout


@pytest.mark.slow
def test_two_confirm_processes_split_the_runs(tiny_study, in_tmp):
    url = tiny_study
    args = [sys.executable, "-m", "study", "confirm", "--storage", url, "--top", "2"]
    args += ["--seeds", "4"]  # 8 runs or more: enough for both processes to claim some
    workers = [
        subprocess.Popen(args, cwd=in_tmp, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    runs = linked(url).get_trials(states=(TrialState.COMPLETE,))
    configs = len(linked(url).user_attrs[CONFIGS_ATTR])
    keys = [t.user_attrs[KEY] for t in runs]
    assert len(keys) == len(set(keys)) == 4 * configs  # every run once
    assert len({t.user_attrs[records.WORKER] for t in runs}) == 2  # both measured runs
    assert all("next: python -m study audit-pruner" in out for out in outs)
