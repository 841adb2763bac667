"""Benchmark: what the overfitting pruner saves, and what it costs, on a search space.

    python benchmarks/bench_pruning.py [--space search_spaces/demo.yaml] [--trials N]

Runs the same space twice in one process, with the same dataset, training seed and sampler seed
(the baseline first in both): once with the space's pruner, once with Optuna's NopPruner. Prints
the fraction of training epochs the pruner saved and the difference in best val top-1 (every
trial scored at its best epoch, including trials stopped early). Target: >= 40 % of epochs saved
with the best within 1 point. Slow on a CPU: two full studies.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from study.objective import Objective
from study.runner import RunOptions, load_study_dataset
from study.space import load_space


def run(space_path: Path, trials: int, prune: bool) -> tuple[int, int, float, float]:
    """(epochs run, epochs planned, best val top-1, seconds) of one in-memory study."""
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
    done = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    run_epochs = sum(t.user_attrs["epochs_run"] for t in done)
    planned = sum(t.user_attrs["epochs_planned"] for t in done)
    best = max(t.user_attrs["best_val_top1"] for t in done)
    return run_epochs, planned, best, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", type=Path, default=Path("search_spaces/demo.yaml"))
    p.add_argument("--trials", type=int, default=None, help="default: the space's trials")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.trials is None:
        args.trials = load_space(args.space).trials or 12
    pruned = run(args.space, args.trials, prune=True)
    full = run(args.space, args.trials, prune=False)
    for name, (epochs, planned, best, seconds) in (("with pruner", pruned), ("no pruning", full)):
        print(
            f"{name:>12}: {epochs:4d} of {planned} epochs, best val top-1 {best:.3f}, "
            f"{seconds:.0f} s"
        )
    saved = 1 - pruned[0] / full[0]
    print(f"epochs saved by the pruner: {saved:.1%} (target >= 40 %)")
    print(
        f"best val top-1, pruned - unpruned: {100 * (pruned[2] - full[2]):+.1f} points "
        "(target within 1 point)"
    )


if __name__ == "__main__":
    main()
