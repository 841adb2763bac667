"""`python -m study run` on real SQLite storage: records, baseline, failures, crashes, workers."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.artifacts import FileSystemArtifactStore
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from study import predictions
from study.run.objective import Objective
from study.run.runner import Interrupted, RunOptions, run_study
from tests.helpers import start
from tests.study.helpers import (
    FINISHED,
    fail_trial,
    load,
    running_with_epochs,
    sampled_params,
    storage_url,
    study_cli,
    wait_for,
    write_space,
)
from vitlab.errors import UserError


def test_short_study_records_curves_reasons_and_the_baseline_first(in_tmp, tiny_manifest):
    # A floor no trial can reach: every trial after the baseline (which only the overfitting
    # rules may stop) is pruned at its first epoch, so a prune reason is always checked below.
    wrapped = {"type": "threshold", "lower": 1.0, "n_warmup_steps": 0}
    space = write_space(in_tmp, trials=4, wrapped=wrapped)
    out = io.StringIO()
    study = run_study(
        RunOptions(space=space, data=tiny_manifest, storage=storage_url(in_tmp)), out=out
    )
    # The run ends with its report and the workflow's next step, as the README's quick start says.
    url = storage_url(in_tmp)
    assert out.getvalue().splitlines()[-2:] == [
        "report: reports/tiny.html",
        f"next: python -m study ablate --study tiny --storage {url}",
    ]
    assert "<!DOCTYPE html>" in Path("reports/tiny.html").read_text()
    assert study.user_attrs["report_artifact"]
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] + [TrialState.PRUNED] * 3
    for t in trials[1:]:
        assert t.user_attrs["epochs_run"] == 1
        assert t.user_attrs["prune_reason"].endswith("below the floor 1 at epoch 1")
    first = trials[0]
    assert first.user_attrs["baseline"] is True
    assert first.params == {"weight_decay": 0.01, "drop_rate": 0.0, "min_images": 1}
    for t in trials:
        curves = t.user_attrs["curves"]
        n = t.user_attrs["epochs_run"]
        assert all(len(v) == n for v in curves.values())
        assert t.intermediate_values == dict(zip(curves["epoch"], curves["val_top1"], strict=True))
        for key in (
            "num_params",
            "seconds",
            "images_per_second",
            "best_epoch",
            "best_val_top1",
            "best",
            "seed",
            "device",
            "epochs_planned",
            "class_coverage",
            "worker",
        ):
            assert key in t.user_attrs, key
        stopped = t.state == TrialState.PRUNED or t.user_attrs.get("stopped_early")
        assert bool(t.user_attrs.get("prune_reason")) == bool(stopped)
        if t.state == TrialState.COMPLETE:
            # Scored at its best epoch, also when stopped early for overfitting.
            assert t.value == max(curves["val_top1"]) == t.user_attrs["best_val_top1"]
    # Every trial's val predictions at its best epoch: one artifact, agreeing with its top-1.
    store = FileSystemArtifactStore("results/artifacts")
    for t in trials:
        labels, predicted = predictions.download(store, t.user_attrs["val_predictions_artifact"])
        assert (predicted == labels).mean() == pytest.approx(t.user_attrs["best_val_top1"])
    attrs = study.user_attrs
    assert sum(attrs["class_counts"]) == attrs["split_summary"]["images"]
    assert len(attrs["class_counts"]) == len(attrs["classes"])
    assert all(Path(path).is_file() for path in attrs["split_files"].values())
    # The study's baseline parameters, under their own key: a trial's "baseline" is a flag.
    assert attrs["baseline_params"] == first.params and "baseline" not in attrs
    assert attrs["split_summary"]["classes_only_in_val"] == 0
    assert len(attrs["dataset_fingerprint"]) == 64 and "optuna" in attrs["versions"]
    assert attrs["roles"] == {
        "weight_decay": "scientific",
        "drop_rate": "scientific",
        "min_images": "scientific",
    }


def test_optuna_cli_reads_the_storage(in_tmp, tiny_manifest):
    space = write_space(in_tmp, trials=2, epochs=2)
    url = storage_url(in_tmp)
    run_study(RunOptions(space=space, data=tiny_manifest, storage=url), out=open(os.devnull, "w"))
    for command in (["trials"], ["best-trial"]):
        r = subprocess.run(
            ["optuna", *command, "--study-name", "tiny", "--storage", url, "-f", "json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)


def test_a_trial_that_raises_is_failed_and_the_study_goes_on(in_tmp, tiny_manifest, monkeypatch):
    fail_trial(monkeypatch, 1)
    space = write_space(in_tmp, trials=3, epochs=2)
    study = run_study(
        RunOptions(space=space, data=tiny_manifest, storage=storage_url(in_tmp)),
        out=open(os.devnull, "w"),
    )
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert [t.number for t in failed] == [1]
    assert failed[0].user_attrs["error"] == "RuntimeError: corrupt batch"
    assert len(study.get_trials(states=FINISHED)) == 3


@pytest.mark.slow
def test_sigkill_mid_trial_then_resume(tmp_path, tiny_manifest):
    space = write_space(tmp_path, trials=4, epochs=40, gap_threshold=None)
    url = storage_url(tmp_path)
    args = study_cli(space, url, tiny_manifest, "--heartbeat", "1", "--grace", "3")
    worker = subprocess.Popen(
        args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        # Let at least one trial finish, then kill the worker in the middle of the next one.
        wait_for(
            lambda: (
                running_with_epochs(tmp_path / "studies.db")
                and len(load(url).get_trials(states=FINISHED)) >= 1
            )
        )
        before = {t.number: t.value for t in load(url).get_trials(states=FINISHED)}
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        worker.kill()
    stale = [t.number for t in load(url).get_trials(states=(TrialState.RUNNING,))]
    assert len(stale) == 1
    time.sleep(4)  # past the grace period: the dead worker's heartbeat is stale
    r = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    study = load(url)
    after = {t.number: t.value for t in study.get_trials(states=FINISHED)}
    assert {n: after.get(n) for n in before} == before  # no finished trial lost or changed
    assert study.trials[stale[0]].state == TrialState.FAIL
    retried = [
        t
        for t in study.trials
        if t.system_attrs.get("failed_trial") == stale[0] and t.state in FINISHED
    ]
    assert len(retried) == 1 and retried[0].params == study.trials[stale[0]].params
    params = sampled_params(study)
    assert len(set(params)) == len(params), "the restarted worker replayed a trial"
    assert len(after) == 4
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


@pytest.mark.slow
def test_ctrl_c_marks_the_trial_and_says_how_to_resume(tmp_path, tiny_manifest):
    space = write_space(tmp_path, trials=3, epochs=40, gap_threshold=None)
    url = storage_url(tmp_path)
    worker = start(study_cli(space, url, tiny_manifest), tmp_path)
    try:
        wait_for(lambda: running_with_epochs(tmp_path / "studies.db"))
        worker.send_signal(signal.SIGINT)
        out, err = worker.communicate(timeout=120)
    finally:
        worker.kill()
    assert worker.returncode == 130, err
    assert "Resume with: python -m study run" in err and "Traceback" not in err
    study = load(url)
    assert not study.get_trials(states=(TrialState.RUNNING,))
    assert len(study.get_trials(states=(TrialState.FAIL,))) == 1


def test_a_worker_stops_after_three_failures_in_a_row(in_tmp, tiny_manifest, monkeypatch):
    def broken(self, trial, config):
        raise RuntimeError("broken setup")

    monkeypatch.setattr(Objective, "_train", broken)
    space = write_space(in_tmp, trials=10, epochs=2)
    study = run_study(
        RunOptions(space=space, data=tiny_manifest, storage=storage_url(in_tmp)),
        out=open(os.devnull, "w"),
    )
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 3


def test_ctrl_c_during_optunas_own_write_waits_for_it(
    in_tmp, tiny_manifest, monkeypatch, python_sigint
):
    """The CI flake, made deterministic: Ctrl-C inside Optuna's tell of a finished trial.

    Raised there, a KeyboardInterrupt breaks the SQLAlchemy write and Optuna's "Should not
    reach" assertion follows. The gate lets the write finish and stops right after it.
    """
    original = RDBStorage.set_trial_state_values

    def interrupted_write(self, trial_id, state, values=None):
        if state == TrialState.COMPLETE:
            signal.raise_signal(signal.SIGINT)
        return original(self, trial_id, state, values)

    monkeypatch.setattr(RDBStorage, "set_trial_state_values", interrupted_write)
    space = write_space(in_tmp, trials=3, epochs=1)
    url = storage_url(in_tmp)
    with pytest.raises(Interrupted, match="Resume with"):
        run_study(
            RunOptions(space=space, data=tiny_manifest, storage=url), out=open(os.devnull, "w")
        )
    assert [t.state for t in load(url).trials] == [TrialState.COMPLETE]


@pytest.mark.parametrize(
    ("space_timeout", "cli_timeout", "expected"),
    [(900, None, 900), (900, 5, 5), (None, None, None)],
)
def test_the_space_timeout_applies_unless_the_cli_gives_one(
    space_timeout, cli_timeout, expected, in_tmp, tiny_manifest, monkeypatch
):
    seen = {}
    monkeypatch.setattr(optuna.Study, "optimize", lambda self, func, **kw: seen.update(kw))
    space = write_space(in_tmp, trials=1, epochs=1)
    raw = yaml.safe_load(space.read_text())
    if space_timeout:
        raw["timeout"] = space_timeout
    space.write_text(yaml.safe_dump(raw))
    opts = RunOptions(
        space=space, data=tiny_manifest, storage=storage_url(in_tmp), timeout=cli_timeout
    )
    run_study(opts, out=open(os.devnull, "w"))
    assert seen["timeout"] == expected


def test_one_user_attr_write_per_epoch_and_the_summary_once(in_tmp, tiny_manifest, monkeypatch):
    """Storage overhead: each epoch writes only the curves; the summary is written at the end."""
    writes: list[str] = []
    original = RDBStorage.set_trial_user_attr

    def counted(self, trial_id, key, value):
        writes.append(key)
        return original(self, trial_id, key, value)

    monkeypatch.setattr(RDBStorage, "set_trial_user_attr", counted)
    space = write_space(in_tmp, trials=1, epochs=3, gap_threshold=None)
    study = run_study(
        RunOptions(space=space, data=tiny_manifest, storage=storage_url(in_tmp)),
        out=open(os.devnull, "w"),
    )
    trial = study.trials[0]
    assert writes.count("curves") == trial.user_attrs["epochs_run"]
    for key in ("epochs_run", "best_val_top1", "best", "seconds"):
        assert writes.count(key) == 1, key


def fail_from_another_worker(url: str, number: int) -> None:
    """What another worker's stale-heartbeat check does: FAIL the trial and queue its retry."""
    other = RDBStorage(url)
    study = optuna.load_study(study_name="tiny", storage=other)
    trial_id = other.get_trial_id_from_study_id_trial_number(study._study_id, number)
    other.set_trial_state_values(trial_id, TrialState.FAIL)
    RetryHeartbeatStaleTrialCallback(max_retry=3)(study, other.get_trial(trial_id))


@pytest.mark.parametrize("when", ["mid-trial", "before its tell"])
def test_a_worker_whose_trial_another_worker_failed_says_so_and_goes_on(
    when, in_tmp, tiny_manifest, monkeypatch
):
    url = storage_url(in_tmp)
    real = Objective._train

    def taken_over(self, trial, config):
        if trial.number == 1 and when == "mid-trial":
            fail_from_another_worker(url, 1)  # every later write to the trial is refused
        value = real(self, trial, config)
        if trial.number == 1 and when == "before its tell":
            fail_from_another_worker(url, 1)
        return value

    monkeypatch.setattr(Objective, "_train", taken_over)
    out = io.StringIO()
    space = write_space(in_tmp, trials=3, epochs=1)
    study = run_study(RunOptions(space=space, data=tiny_manifest, storage=url), out=out)
    said = [line for line in out.getvalue().splitlines() if "another worker" in line]
    assert said == [
        "trial 1 was failed by another worker (no heartbeat from here within --grace); "
        "it is queued again; going on"
    ]
    assert study.trials[1].state == TrialState.FAIL
    retry = [t for t in study.trials if t.system_attrs.get("failed_trial") == 1]
    assert len(retry) == 1 and retry[0].state in FINISHED
    assert len(study.get_trials(states=FINISHED)) == 3


def test_the_study_names_its_metric_val_top1(in_tmp, tiny_manifest):
    url = storage_url(in_tmp)
    space = write_space(in_tmp, trials=1, epochs=1)
    run_study(RunOptions(space=space, data=tiny_manifest, storage=url), out=open(os.devnull, "w"))
    study = load(url)  # as optuna-dashboard and `optuna best-trial` read it
    assert study.metric_names == ["val_top1"]
    assert "value_val_top1" in study.trials_dataframe(multi_index=False).columns


RESUMED = [
    RunOptions(space=Path("tiny.yaml"), data=Path("data/my manifest.jsonl")),
    RunOptions(
        space=Path("spaces/it's.yaml"),
        train=Path("a b/train.jsonl"),
        val=Path("a b/val.jsonl"),
        test=Path("a b/test.jsonl"),
        trials=7,
        timeout=90.5,
        device="cpu",
        seed=3,
        heartbeat=2,
        grace=9,
        artifacts=Path("shared folder/artifacts"),
    ),
]


@pytest.mark.parametrize("opts", RESUMED, ids=["data", "every flag"])
def test_the_resume_command_repeats_every_flag_quoted(opts):
    from study.cli import build_parser, run_options
    from study.commands import run_command

    name, url = "my study; rm -rf ~", "sqlite:///results/my studies.db"
    words = shlex.split(run_command(opts, name, url))
    assert words[:4] == ["python", "-m", "study", "run"]
    parsed = run_options(build_parser().parse_args(words[3:]))
    assert parsed == dataclasses.replace(opts, study_name=name, storage=url)


def test_a_different_seed_on_an_existing_study_is_one_line_error(in_tmp, tiny_manifest):
    url = storage_url(in_tmp)
    space = write_space(in_tmp, trials=1, epochs=1)
    opts = RunOptions(space=space, data=tiny_manifest, storage=url, seed=0)
    run_study(opts, out=open(os.devnull, "w"))
    with pytest.raises(UserError) as caught:
        run_study(dataclasses.replace(opts, seed=1), out=open(os.devnull, "w"))
    assert str(caught.value) == (
        "--seed 1: study 'tiny' was run with --seed 0; continue it with --seed 0, "
        "or give another --study name"
    )


@pytest.fixture
def sigterm_is_a_test_failure():
    """Without the gate's handler, SIGTERM would end pytest: make it an error in the trial."""

    def unhandled(signum, frame):
        raise RuntimeError("SIGTERM reached the test's handler: the study did not handle it")

    previous = signal.signal(signal.SIGTERM, unhandled)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_fail_the_running_trial_and_say_how_to_resume(
    signum, code, in_tmp, tiny_manifest, monkeypatch, python_sigint, sigterm_is_a_test_failure
):
    original = RDBStorage.set_trial_intermediate_value

    def signalled_mid_trial(self, trial_id, step, value):
        original(self, trial_id, step, value)
        if step == 1:
            signal.raise_signal(signum)  # the trial's next epoch stops at once

    monkeypatch.setattr(RDBStorage, "set_trial_intermediate_value", signalled_mid_trial)
    space = write_space(in_tmp, trials=2, epochs=3, gap_threshold=None)
    url = storage_url(in_tmp)
    with pytest.raises(Interrupted) as caught:
        run_study(
            RunOptions(space=space, data=tiny_manifest, storage=url, trials=2),
            out=open(os.devnull, "w"),
        )
    assert caught.value.exit_code == code
    assert f"interrupted ({signal.Signals(signum).name})" in str(caught.value)
    assert "Resume with: python -m study run" in str(caught.value)
    trials = load(url).trials
    assert [t.state for t in trials] == [TrialState.FAIL]
    assert len(trials[0].intermediate_values) == 1 and "error" not in trials[0].user_attrs
