"""Studies on a real PostgreSQL server: the storage, several workers, and a worker killed mid-trial.

Each test gets an empty database on a throwaway cluster (tests/study/conftest.py). Workers are
real ``python -m study run`` processes on the tiny space of tests/study/helpers.py.
"""

from __future__ import annotations

import io
import itertools
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from study.dashboard.server import open_dashboard
from study.data import default_split_dir
from study.records import TrialRecord
from study.run.runner import RunOptions, load_study_dataset, run_study
from study.space.load import load_space
from study.storage import exclusive, open_storage
from tests.postgres_cluster import PostgresCluster
from tests.study.helpers import FINISHED, sampled_params, wait_for, write_space
from vitlab.errors import UserError

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
WORKER_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
EPOCHS_KILLED = 40  # epochs of every trial in the kill test (~0.1 s each): room to kill mid-trial


class Trials:
    """The study's trials read through Optuna on the URL (any storage, no SQL of ours)."""

    def __init__(self, url: str, study_name: str = "tiny") -> None:
        self.storage = RDBStorage(url)  # one engine for all the polling
        self.study_name = study_name

    def __call__(self) -> list[FrozenTrial]:
        try:
            study = optuna.load_study(study_name=self.study_name, storage=self.storage)
        except KeyError:  # no worker has created the study yet
            return []
        return study.get_trials()

    def study(self) -> optuna.Study:
        return optuna.load_study(study_name=self.study_name, storage=self.storage)


def prepare_data(folder: Path, space: Path, data: Path) -> Path:
    """Split and cache once, in this process (no worker start-up to pay); returns the split.

    The workers then read the split files (--train/--val) instead of each rewriting them: the
    study is what they should race on.
    """
    here = Path.cwd()
    os.chdir(folder)  # results/ (split, cache) as a worker started in ``folder`` finds them
    try:
        load_study_dataset(RunOptions(space=space, data=data), load_space(space), io.StringIO())
    finally:
        os.chdir(here)
    return folder / default_split_dir(data)


def worker_cli(space: Path, url: str, split: Path, *extra: str) -> list[str]:
    """``python -m study run`` on the prepared split files."""
    return [
        sys.executable,
        *("-m", "study", "run", "--space", str(space), "--storage", url),
        *("--train", str(split / "train.jsonl"), "--val", str(split / "val.jsonl")),
        *extra,
    ]


def start_workers(n: int, args: list[str], folder: Path) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            args,
            cwd=folder,
            env=WORKER_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]


def assert_numbered_in_order_and_settled(study: optuna.Study) -> None:
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))  # no duplicated and no lost trial numbers
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def enqueued_baselines(study: optuna.Study) -> list[int]:
    """Numbers of the baseline trials enqueued by workers (a retry copies its attrs: not one)."""
    return [
        t.number
        for t in study.trials
        if TrialRecord.from_trial(t).baseline
        and RetryHeartbeatStaleTrialCallback.retried_trial_number(t) is None
    ]


def test_open_storage_runs_a_study_that_optunas_cli_reads_back(
    tmp_path, monkeypatch, tiny_manifest, postgres_url
):
    monkeypatch.chdir(tmp_path)  # results/ (splits, cache) go under tmp_path
    storage = open_storage(postgres_url, heartbeat_interval=2, grace_period=6)
    assert storage.get_heartbeat_interval() == 2
    assert isinstance(
        storage.get_heartbeat_stale_trial_callback(), RetryHeartbeatStaleTrialCallback
    )
    space = write_space(tmp_path, trials=2, epochs=2)
    study = run_study(
        RunOptions(space=space, data=tiny_manifest, storage=postgres_url),
        out=open(os.devnull, "w"),
    )
    assert len(study.get_trials(states=FINISHED)) == 2

    r = subprocess.run(
        ["optuna", "trials", "--study-name", "tiny", "--storage", postgres_url, "-f", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["number"] for row in rows] == [0, 1]
    assert {row["state"] for row in rows} <= {"COMPLETE", "PRUNED"}
    # Study attrs of every JSON shape survive the server: nested mappings, long lists.
    again = optuna.load_study(study_name="tiny", storage=postgres_url)
    assert again.user_attrs == study.user_attrs
    assert again.user_attrs["split_summary"]["classes_only_in_val"] == 0
    assert again.trials[0].user_attrs["curves"] == study.trials[0].user_attrs["curves"]


def test_the_dashboard_watches_a_postgres_study(tmp_path, monkeypatch, tiny_manifest, postgres_url):
    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path, trials=1, epochs=1)
    run_study(
        RunOptions(space=space, data=tiny_manifest, storage=postgres_url),
        out=open(os.devnull, "w"),
    )
    server = open_dashboard(postgres_url, port=0, artifacts=Path("results/artifacts"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/api/studies"
        with urllib.request.urlopen(base, timeout=30) as r:
            summaries = json.loads(r.read())["study_summaries"]
        assert [s["study_name"] for s in summaries] == ["tiny"]
        with urllib.request.urlopen(f"{base}/{summaries[0]['study_id']}", timeout=30) as r:
            trials = json.loads(r.read())["trials"]
        assert [t["state"] for t in trials] in (["Complete"], ["Pruned"])
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("database", "port", "reason"),
    [
        ("missing_db", None, 'database "missing_db" does not exist'),
        ("postgres", 1, "Connection refused"),
    ],
    ids=["no such database", "no server on the port"],
)
def test_a_storage_that_cannot_be_opened_is_one_clear_error(
    postgres_cluster: PostgresCluster, database: str, port: int | None, reason: str
):
    url = postgres_cluster.url(database)
    if port is not None:
        url = url.replace(f":{postgres_cluster.port}/", f":{port}/")
    with pytest.raises(UserError, match="cannot be opened") as caught:
        open_storage(url)
    assert reason in str(caught.value)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "workers"),
    [("sqlite", 2), ("sqlite", 3), ("postgresql", 2), ("postgresql", 3)],
)
def test_workers_share_one_study_and_never_replay_a_trial(
    backend, workers, request, tmp_path, tiny_manifest
):
    url = _backend_url(backend, request, tmp_path)
    space = write_space(tmp_path, trials=5, epochs=1)
    split = prepare_data(tmp_path, space, tiny_manifest)
    started = start_workers(workers, worker_cli(space, url, split), tmp_path)
    outputs = [w.communicate(timeout=600) for w in started]
    assert [w.returncode for w in started] == [0] * workers, outputs

    study = Trials(url).study()
    assert_numbered_in_order_and_settled(study)
    assert len(enqueued_baselines(study)) == 1, "workers starting together each enqueued one"
    finished = study.get_trials(states=FINISHED)
    # Each worker stops at 5 finished trials; one already in a trial finishes it.
    assert 5 <= len(finished) <= 5 + workers - 1
    assert len(finished) == len(study.trials)  # nothing failed, nothing lost
    params = sampled_params(study)
    assert len(set(params)) == len(params), "two workers ran the same configuration"
    # Every worker really ran trials (each trained its epoch), as the storage records them, and
    # no other process did; each worker printed the trials the storage says it ran.
    ran = trials_by_worker(study)
    assert set(ran) == {w.pid for w in started}, f"a worker ran no trial: {ran}"
    assert all(len(t.intermediate_values) == 1 for t in study.trials)
    for worker, (out, _) in zip(started, outputs, strict=True):
        assert started_trials(out) == ran[worker.pid]


def trials_by_worker(study: optuna.Study) -> dict[int, list[int]]:
    """pid -> the numbers of the trials that process ran, from each trial's worker attr."""
    ran: dict[int, list[int]] = {}
    for t in study.trials:
        worker = TrialRecord.from_trial(t).worker
        assert worker is not None and worker.startswith(f"{socket.gethostname()}:"), worker
        ran.setdefault(int(worker.rsplit(":", 1)[1]), []).append(t.number)
    return ran


def started_trials(out: str) -> list[int]:
    """The numbers of the trials a worker's output says it started (Optuna's numbers)."""
    return [int(n) for n in re.findall(r"^trial (\d+) \(", out, flags=re.MULTILINE)]


def in_a_reported_epoch(trials: list[FrozenTrial], workers: int) -> bool:
    """Every worker is inside a trial with at least one epoch reported and one still to run."""
    running = [t for t in trials if t.state == TrialState.RUNNING]
    return len(running) == workers and all(
        1 <= len(t.intermediate_values) < EPOCHS_KILLED - 1 for t in running
    )


@pytest.mark.slow
def test_a_worker_killed_mid_trial_is_retried_by_the_others(tmp_path, tiny_manifest, postgres_url):
    space = write_space(tmp_path, trials=8, epochs=EPOCHS_KILLED)
    settings = yaml.safe_load(space.read_text())
    settings["pruner"] = {"type": "none"}  # every trial runs all its epochs: a long kill window
    space.write_text(yaml.safe_dump(settings))
    split = prepare_data(tmp_path, space, tiny_manifest)
    args = worker_cli(space, postgres_url, split, "--heartbeat", "1", "--grace", "3")
    workers = start_workers(3, args, tmp_path)
    trials = Trials(postgres_url)
    try:
        # Kill when every worker is mid-trial, so whichever one dies leaves a half-run trial.
        wait_for(lambda: in_a_reported_epoch(trials(), 3), every=0.2)
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        outputs = [w.communicate(timeout=600) for w in workers[1:]]
    finally:
        for w in workers:
            w.kill()
    assert [w.returncode for w in workers[1:]] == [0, 0], outputs

    study = trials.study()
    assert_numbered_in_order_and_settled(study)
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1
    stale = failed[0]
    assert "error" not in stale.user_attrs  # failed by the heartbeat, not by raising
    assert 1 <= len(stale.intermediate_values) < EPOCHS_KILLED  # it died mid-trial
    retries = [
        t
        for t in study.trials
        if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) is not None
    ]
    assert len(retries) == 1
    retry = retries[0]
    assert RetryHeartbeatStaleTrialCallback.retry_history(retry) == [stale.number]
    assert retry.number > stale.number and retry.state in FINISHED
    assert retry.params == stale.params
    assert len(retry.intermediate_values) == EPOCHS_KILLED  # run again from the start
    assert len(study.get_trials(states=FINISHED)) >= 8


def run_together(target, url: str, n: int) -> tuple[list, list[int | None]]:
    """``n`` forked processes run ``target(url, barrier, queue)``, meeting at the barrier so that
    they really act at once; returns the one item each put on the queue, and their exit codes."""
    context = multiprocessing.get_context("fork")  # the children need nothing but the storage
    barrier, queue = context.Barrier(n), context.Queue()
    processes = [context.Process(target=target, args=(url, barrier, queue)) for _ in range(n)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    exitcodes = [p.exitcode for p in processes]
    # A child that crashed put nothing: then the caller's exit-code check says so.
    items = [queue.get(timeout=5) for _ in processes] if exitcodes == [0] * n else []
    return items, exitcodes


def _open_together(url: str, barrier: Barrier, errors: Queue) -> None:
    barrier.wait()
    try:
        open_storage(url)
        errors.put("")
    except UserError as e:
        errors.put(str(e))


def _backend_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of ``backend``: the session's PostgreSQL server, or a SQLite file."""
    if backend == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'studies.db'}"


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_workers_opening_an_empty_database_together_all_get_the_storage(backend, request, tmp_path):
    """Simultaneous CREATE TABLE fails for all but one worker; open_storage tries again."""
    url = _backend_url(backend, request, tmp_path)
    errors, exitcodes = run_together(_open_together, url, 6)
    assert exitcodes == [0] * 6
    assert errors == [""] * 6


def _hold_lock(url: str, barrier: Barrier, spans: Queue) -> None:
    storage = open_storage(url, heartbeat=False)
    barrier.wait()
    with exclusive(storage, "study tiny baseline"):
        start = time.monotonic()
        time.sleep(0.2)
        spans.put((start, time.monotonic()))


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_exclusive_lets_one_worker_at_a_time_into_the_block(backend, request, tmp_path):
    url = _backend_url(backend, request, tmp_path)
    open_storage(url, heartbeat=False)  # the tables first: this test is about the lock
    context = multiprocessing.get_context("fork")
    barrier, spans = context.Barrier(3), context.Queue()
    processes = [context.Process(target=_hold_lock, args=(url, barrier, spans)) for _ in range(3)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * 3
    ordered = sorted(spans.get(timeout=5) for _ in processes)
    for (_, end), (start, _) in itertools.pairwise(ordered):
        assert start >= end  # no two workers inside at once


def test_the_readme_postgresql_url_works_in_run_and_in_optunas_cli(postgres_cluster):
    """``postgresql://`` (no driver named): SQLAlchemy's default driver must be installed."""
    url = postgres_cluster.create_database("plain_url").replace(
        "postgresql+psycopg2://", "postgresql://"
    )
    assert url.startswith("postgresql://study@127.0.0.1:")
    storage = open_storage(url, heartbeat_interval=2, grace_period=6)
    optuna.create_study(study_name="plain", storage=storage)
    r = subprocess.run(
        ["optuna", "studies", "--storage", url, "-f", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert [s["name"] for s in json.loads(r.stdout)] == ["plain"]


def _pop_together(url: str, barrier: Barrier, popped: Queue) -> None:
    study = optuna.load_study(study_name="queue", storage=open_storage(url, heartbeat=False))
    barrier.wait()
    popped.put(study._pop_waiting_trial_id())  # what study.ask() does first


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_workers_asking_together_run_an_enqueued_trial_once(backend, request, tmp_path):
    """SQLite read the WAITING trial outside a transaction: every worker took the baseline."""
    url = _backend_url(backend, request, tmp_path)
    study = optuna.create_study(study_name="queue", storage=open_storage(url, heartbeat=False))
    study.enqueue_trial({"x": 1.0})
    popped, exitcodes = run_together(_pop_together, url, 4)
    assert exitcodes == [0] * 4
    got = sorted(popped, key=lambda v: v is not None)
    assert got[:3] == [None] * 3 and got[3] is not None  # one worker got it, three found none
