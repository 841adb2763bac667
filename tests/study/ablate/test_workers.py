"""``ablate`` processes on real storage with real (tiny) training: killed and resumed, and two
sharing one SQLite file."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from study.ablate.runs import KEY, linked_name
from study.run.runner import RunOptions, run_study
from tests.study.helpers import kill_then_resume, storage_url, wait_for, write_space

FACTORS = {"weight_decay": 0.05, "drop_rate": 0.3, "min_images": 3}  # 2^3 = 8 design points


@pytest.fixture
def tiny_study(in_tmp, tiny_manifest):
    """A real 2-trial study of the tests' tiny space, with a fix_list point 3 factors away."""
    space = write_space(in_tmp, trials=2, epochs=3, gap_threshold=None)
    raw = yaml.safe_load(space.read_text())
    raw["points"] = {"fix_list": FACTORS}
    space.write_text(yaml.safe_dump(raw))
    url = storage_url(in_tmp)
    run_study(RunOptions(space=space, data=tiny_manifest, storage=url), out=open(os.devnull, "w"))
    return url


def ablate_cli(url: str, *extra: str) -> list[str]:
    args = [sys.executable, "-m", "study", "ablate", "--storage", url, "--to", "fix_list"]
    return [*args, "--seeds", "1", "--epochs", "3", *extra]


def linked(url: str) -> optuna.Study:
    return optuna.load_study(study_name=linked_name("tiny"), storage=url)


def complete_keys(url: str) -> list[str]:
    return [t.user_attrs[KEY] for t in linked(url).get_trials(states=(TrialState.COMPLETE,))]


def finished(url: str) -> dict[int, tuple[str, float]]:
    """Each finished run's (key, value) by its trial number ({} before the study exists)."""
    try:
        return {t.number: (t.user_attrs[KEY], t.value) for t in linked(url).trials if t.value}
    except KeyError:  # the linked study does not exist yet
        return {}


@pytest.mark.slow
def test_sigkill_mid_ablation_then_resume(tiny_study, in_tmp):
    url = tiny_study
    args = ablate_cli(url, "--heartbeat", "1", "--grace", "3")
    before, after, r = kill_then_resume(args, in_tmp, lambda: finished(url), at_least=2)
    assert r.returncode == 0, r.stderr
    study = linked(url)
    assert {n: after[n] for n in before} == before  # no finished run lost or changed
    keys = complete_keys(url)
    assert len(keys) == len(set(keys)) == 8  # the design completed, no run twice
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    assert "measured effects" in r.stdout


@pytest.mark.slow
def test_two_ablate_processes_split_the_runs(tiny_study, in_tmp):
    url = tiny_study
    workers = [
        subprocess.Popen(ablate_cli(url), cwd=in_tmp, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    keys = complete_keys(url)
    assert len(keys) == len(set(keys)) == 8
    by_worker = collections.Counter(
        t.user_attrs["worker"] for t in linked(url).get_trials(states=(TrialState.COMPLETE,))
    )
    assert len(by_worker) == 2, by_worker  # both measured runs
    assert all("measured effects" in out for out in outs)


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume(tiny_study, in_tmp):
    from tests.helpers import start

    url = tiny_study
    worker = start(ablate_cli(url, "--epochs", "30"), in_tmp)  # long runs: Ctrl-C lands in one
    try:
        wait_for(lambda: bool(_running(url)))
        time.sleep(1)
        worker.send_signal(signal.SIGINT)
        _, err = worker.communicate(timeout=120)
    finally:
        worker.kill()
    assert worker.returncode == 130, err
    assert "Resume with: python -m study ablate --study tiny" in err and "Traceback" not in err
    assert not _running(url)  # the interrupted run is marked failed, not left RUNNING


def _running(url: str) -> list[int]:
    try:
        return [t.number for t in linked(url).get_trials(states=(TrialState.RUNNING,))]
    except KeyError:
        return []
