"""Benchmark: what the overfitting pruner saves, and what it costs, on a search space.

    python benchmarks/bench_pruning.py [--space search_spaces/demo.yaml] [--trials 12]

Runs the same space twice, with the same dataset, training seed and sampler seed (the baseline
first in both): once with the space's pruner, once with Optuna's NopPruner. The two studies run
side by side in two processes with one CPU thread each (same numerics in both; ~1.3x the
throughput of one after the other on 2 cores). Prints each trial, the fraction of training epochs
the pruner saved and the difference in best val top-1 (every trial scored at its best epoch,
including trials stopped early). Target: >= 40 % of epochs saved with the best within 1 point.

The figures are also printed for the first N trials, N = the space's own ``trials`` (the demo's
5): a seeded sampler proposes the same first N trials whatever the study's length, so that prefix
*is* the short study. A pruner has little to do in 5 trials (its median needs 3 finished ones),
which is why the default is 12. Slow on a CPU: two full studies (~30 minutes for the demo).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState


@dataclass(frozen=True)
class TrialRecord:
    number: int
    state: str
    epochs_run: int
    epochs_planned: int
    best_val_top1: float
    reason: str


def run(
    space_path: Path, trials: int, prune: bool, threads: int
) -> tuple[list[TrialRecord], float]:
    """Each trial's record, and the seconds, of one in-memory study."""
    import torch

    from study.run.objective import Objective
    from study.run.runner import RunOptions, load_study_dataset
    from study.space.load import load_space

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space(space_path)
    dataset, _, _ = load_study_dataset(RunOptions(space=space_path), space, io.StringIO())
    study = optuna.create_study(
        direction="maximize",
        sampler=space.make_sampler(),
        pruner=space.make_pruner() if prune else optuna.pruners.NopPruner(),
    )
    study.enqueue_trial(dict(space.baseline))
    start = time.perf_counter()
    study.optimize(Objective(space, dataset), n_trials=trials)
    seconds = time.perf_counter() - start
    records = [
        TrialRecord(
            number=t.number,
            state=t.state.name,
            epochs_run=t.user_attrs["epochs_run"],
            epochs_planned=t.user_attrs["epochs_planned"],
            best_val_top1=t.user_attrs["best_val_top1"],
            reason=t.user_attrs.get("prune_reason", ""),
        )
        for t in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    ]
    return records, seconds


def compare(pruned: list[TrialRecord], full: list[TrialRecord], n: int) -> tuple[float, float]:
    """(fraction of epochs saved, best val top-1 pruned - unpruned) over the first n trials."""
    a, b = pruned[:n], full[:n]
    saved = 1 - sum(r.epochs_run for r in a) / sum(r.epochs_run for r in b)
    return saved, max(r.best_val_top1 for r in a) - max(r.best_val_top1 for r in b)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", type=Path, default=Path("search_spaces/demo.yaml"))
    p.add_argument("--trials", type=int, default=12)
    args = p.parse_args()

    from study.run.runner import RunOptions, load_study_dataset
    from study.space.load import load_space

    space = load_space(args.space)
    # Generate and cache the data once, before the two processes would race to do it.
    load_study_dataset(RunOptions(space=args.space), space, io.StringIO())
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        jobs = [pool.submit(run, args.space, args.trials, prune, 1) for prune in (True, False)]
        (pruned, pruned_s), (full, full_s) = (j.result() for j in jobs)

    print(f"{'trial':>5}  {'with pruner':<40}  no pruning")
    for a, b in zip(pruned, full, strict=True):
        left = f"{a.state:<8} {a.epochs_run:2d}/{a.epochs_planned} ep  {a.best_val_top1:.3f}"
        print(
            f"{a.number:5d}  {left:<40}  {b.epochs_run:2d}/{b.epochs_planned} ep  "
            f"{b.best_val_top1:.3f}"
        )
        if a.reason:
            print(f"{'':7}{a.reason}")
    for name, records, seconds in (("with pruner", pruned, pruned_s), ("no pruning", full, full_s)):
        epochs = sum(r.epochs_run for r in records)
        planned = sum(r.epochs_planned for r in records)
        best = max(r.best_val_top1 for r in records)
        print(
            f"{name:>12}: {epochs:4d} of {planned} epochs, best val top-1 {best:.3f}, "
            f"{seconds:.0f} s"
        )
    for n in sorted({space.trials or len(pruned), len(pruned)}):
        if n > len(pruned):
            continue
        saved, diff = compare(pruned, full, n)
        print(
            f"first {n:2d} trials: epochs saved {saved:.1%} (target >= 40 %), best val top-1 "
            f"pruned - unpruned {100 * diff:+.1f} points (target within 1 point)"
        )


if __name__ == "__main__":
    main()
