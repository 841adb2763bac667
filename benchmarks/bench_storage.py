"""Benchmark: the study's storage overhead per trial, on SQLite and PostgreSQL, 1 and 3 workers.

    python benchmarks/bench_storage.py [--trials 12] [--epochs 10] [--workers 1 3]

Runs the demo space (search_spaces/demo.yaml) on the demo data (data/demo/, generated if absent)
four times, each on a fresh storage: SQLite and a throwaway PostgreSQL server (started here with
initdb, as the tests do; Debian package `postgresql`), with 1 and with 3 worker processes. Every
worker is a real process running ``study.run.runner.run_study`` in which each public method of
Optuna's RDBStorage (and the stale-trial query run before each trial) is timed; a call inside
another timed call is not counted twice. The heartbeat thread's record_heartbeat runs beside the
trial and blocks nothing: it is counted apart.

Prints per row: finished trials, trial seconds (the sum of the trials' own durations as stored),
storage seconds (every timed call in the workers' main threads, opening the storage included) and
overhead = storage seconds / trial seconds. Target: < 1 % at the demo's trial length. Shorter
trials (--epochs 2) raise the figure: the per-trial calls stay, the training shrinks. With more
workers than cores, trials also slow down, which lowers the figure for 3 workers.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/postgres_cluster.py: the tests' throwaway server

from tests.postgres_cluster import PostgresCluster  # noqa: E402

DEMO_SPACE = REPO / "search_spaces" / "demo.yaml"
DEMO_MANIFEST = REPO / "data" / "demo" / "manifest.jsonl"
EXTRA_TIMED = ("__init__", "_get_stale_trial_ids")  # opening; the query before each trial


class CallTimer:
    """Seconds and calls per storage method, main thread and other threads (the heartbeat)."""

    def __init__(self) -> None:
        self.stats: dict[str, dict[str, list[float]]] = {
            "main": defaultdict(lambda: [0, 0.0]),
            "other": defaultdict(lambda: [0, 0.0]),
        }
        self.depth = threading.local()

    def wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self.depth, "value", 0)
            self.depth.value = depth + 1
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.depth.value = depth
                if depth == 0:  # the outermost storage call only
                    main = threading.current_thread() is threading.main_thread()
                    entry = self.stats["main" if main else "other"][name]
                    entry[0] += 1
                    entry[1] += time.perf_counter() - start

        return timed

    def install(self, cls: type) -> None:
        names = [
            n
            for n, _ in inspect.getmembers(cls, inspect.isfunction)
            if not n.startswith("_")
            and not isinstance(inspect.getattr_static(cls, n), staticmethod | classmethod)
        ]
        for name in [*names, *EXTRA_TIMED]:
            setattr(cls, name, self.wrap(name, getattr(cls, name)))


def worker(space: Path, split: Path, url: str, trials: int, stats_out: Path) -> None:
    """One ``python -m study run --train --val`` worker, with every storage call timed."""
    from optuna.storages import RDBStorage

    from study.run.runner import RunOptions, run_study

    timer = CallTimer()
    timer.install(RDBStorage)
    run_study(
        RunOptions(
            space=space,
            train=split / "train.jsonl",
            val=split / "val.jsonl",
            storage=url,
            trials=trials,
        ),
        out=open(os.devnull, "w"),
    )
    stats_out.write_text(json.dumps(timer.stats))


def bench_space(source: Path, folder: Path, epochs: int | None) -> Path:
    """A copy of the space in ``folder``, with fewer epochs when asked."""
    import yaml

    from vitlab.yamlfile import read_yaml

    settings = read_yaml(source)
    if epochs is not None:
        settings["fixed"]["epochs"] = epochs
    settings.pop("timeout", None)  # the trial count ends the study, never the safety net
    # Paths in a space are relative to its file: keep them pointing where they did.
    for key in ("pretrained_weights", "data"):
        settings[key] = absolute_paths(settings.get(key), source.parent)
    path = folder / source.name
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def absolute_paths(value: Any, base: Path) -> Any:
    if isinstance(value, dict):
        return {k: absolute_paths(v, base) for k, v in value.items()}
    if isinstance(value, str) and value not in ("hub",) and not value.startswith("hub:"):
        return str((base / value).resolve())
    return value


def run_workers(
    space: Path, split: Path, url: str, trials: int, workers: int, folder: Path
) -> dict[str, Any]:
    from vitlab.yamlfile import read_yaml

    study_name = read_yaml(space).get("name", space.stem)
    stats = [folder / f"worker{i}.json" for i in range(workers)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "--worker", str(space), str(split), url, str(trials)]
    processes = [
        subprocess.Popen([*command, str(path)], cwd=REPO, env=env, stderr=subprocess.PIPE)
        for path in stats
    ]
    try:
        for p in processes:
            _, err = p.communicate()
            if p.returncode != 0:
                raise SystemExit(f"a worker failed (exit {p.returncode}):\n{err.decode()[-2000:]}")
    finally:  # Ctrl-C or a failed worker: stop the others before the server goes
        for p in processes:
            p.kill()
            p.wait()

    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=study_name, storage=url)
    timed = [t for t in study.trials if t.datetime_start and t.datetime_complete]
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    heartbeat = [0, 0.0]
    for path in stats:
        recorded = json.loads(path.read_text())
        for name, (calls, seconds) in recorded["main"].items():
            totals[name][0] += calls
            totals[name][1] += seconds
        for calls, seconds in recorded["other"].values():
            heartbeat[0] += calls
            heartbeat[1] += seconds
    return {
        "trials": len(finished),
        "trial_seconds": sum(
            (t.datetime_complete - t.datetime_start).total_seconds() for t in timed
        ),
        "storage_seconds": sum(seconds for _, seconds in totals.values()),
        "storage_calls": sum(calls for calls, _ in totals.values()),
        "heartbeat_seconds": heartbeat[1],
        "heartbeat_calls": heartbeat[0],
        "by_method": dict(totals),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=12, help="finished trials per study (demo: 12)")
    p.add_argument("--epochs", type=int, help="epochs per trial (default: the demo's 10)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 3])
    p.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    p.add_argument("--space", type=Path, default=DEMO_SPACE, help="default: the demo space")
    p.add_argument("--data", type=Path, default=DEMO_MANIFEST, help="default: the demo data")
    p.add_argument("--top", type=int, default=4, help="slowest storage methods shown per row")
    args = p.parse_args()

    from study.data import prepare_split
    from study.run.runner import RunOptions, load_study_dataset
    from study.space.load import load_space
    from vitlab.config import DataConfig
    from vitlab.demo import make_demo_dataset

    if args.data == DEMO_MANIFEST and not DEMO_MANIFEST.exists():
        make_demo_dataset(DEMO_MANIFEST.parent)
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        folder = Path(tmp)
        space = bench_space(args.space.resolve(), folder, args.epochs)
        os.chdir(REPO)
        # Split and cache once here; the workers read the split files (as --train/--val), so
        # they do not each rewrite the same files at the same moment.
        split = prepare_split(DataConfig(manifest=str(args.data))).out_dir.resolve()
        load_study_dataset(
            RunOptions(space=space, train=split / "train.jsonl", val=split / "val.jsonl"),
            load_space(space),
            sys.stderr,
        )
        rows = []
        with PostgresCluster() as server:
            for backend in args.backends:
                for workers in args.workers:
                    name = f"{backend}_{workers}"
                    if backend == "sqlite":
                        url = f"sqlite:///{folder / name}.db"
                    else:
                        url = server.create_database(name)
                    run_folder = folder / name
                    run_folder.mkdir()
                    start = time.perf_counter()
                    result = run_workers(space, split, url, args.trials, workers, run_folder)
                    result["wall"] = time.perf_counter() - start
                    rows.append((backend, workers, result))
                    print(f"{name}: done in {result['wall']:.0f} s", file=sys.stderr, flush=True)
    print_table(rows, args.top)


def print_table(rows: list[tuple[str, int, dict[str, Any]]], top: int) -> None:
    header = (
        f"{'backend':<10} {'workers':>7} {'trials':>6} {'trial s':>8} {'storage s':>9} "
        f"{'overhead':>8}  {'opening s':>9} {'w/o opening':>11} {'calls':>6} {'heartbeat s':>11}"
    )
    print(header)
    print("-" * len(header))
    for backend, workers, r in rows:
        opening = r["by_method"].get("__init__", [0, 0.0])[1]
        trial_s, storage_s = r["trial_seconds"], r["storage_seconds"]
        without = (storage_s - opening) / trial_s
        print(
            f"{backend:<10} {workers:>7} {r['trials']:>6} {trial_s:>8.1f} {storage_s:>9.2f} "
            f"{storage_s / trial_s:>8.2%}  {opening:>9.2f} {without:>11.2%} "
            f"{r['storage_calls']:>6} {r['heartbeat_seconds']:>11.2f}"
        )
    print(
        "overhead: storage s / trial s; opening: the storage's one-off start in each worker "
        "(tables, version check); heartbeat: its own thread, beside the trial"
    )
    print("\nslowest storage methods (seconds in the workers' main threads / calls):")
    for backend, workers, r in rows:
        slowest = sorted(r["by_method"].items(), key=lambda kv: -kv[1][1])[:top]
        listed = ", ".join(f"{name} {s:.2f} s/{int(n)}" for name, (n, s) in slowest)
        print(f"  {backend} x{workers}: {listed}")


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--worker":
        space_arg, split_arg, url_arg, trials_arg, stats_arg = sys.argv[2:]
        worker(Path(space_arg), Path(split_arg), url_arg, int(trials_arg), Path(stats_arg))
    else:
        main()
