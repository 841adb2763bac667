"""The search's sub-commands: ``run`` (a study on storage) and ``dashboard`` (watching it)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from study.cli.arguments import Sub, add_artifacts, add_device, positive_int, positive_number
from study.dashboard.server import DEFAULT_HOST, DEFAULT_PORT
from study.run.plan import DEFAULT_TRIALS, RunOptions
from study.space.load import DEFAULT_SPACE
from study.storage import (
    GRACE_SECONDS,
    HEARTBEAT_SECONDS,
    MIN_GRACE_HEARTBEATS,
    default_storage_url,
)

__all__ = ["add_dashboard", "add_run", "cmd_dashboard", "cmd_run", "run_options"]


def add_run(sub: Sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "run",
        help="run (or continue) an Optuna study over a search space",
        description="Run an Optuna study: the space's baseline first, then sampled "
        "trials, each trained and pruned epoch by epoch. With no arguments: the "
        "demo space on the demo data. Several processes on one storage share "
        "the study.",
    )
    help = "search-space YAML (default %(default)s)"
    p.add_argument("--space", type=Path, default=DEFAULT_SPACE, help=help)
    data = p.add_mutually_exclusive_group()
    data.add_argument("--data", type=Path, help="manifest (JSONL/CSV) or image folder, split here")
    data.add_argument("--train", type=Path, help="an existing train split file (with --val)")
    p.add_argument("--val", type=Path, help="an existing val split file (with --train)")
    p.add_argument("--test", type=Path, help="an existing test split file (never read by run)")
    p.add_argument(
        "--study", dest="study_name", metavar="STUDY", help="study name (default: the space's name)"
    )
    p.add_argument(
        "--storage",
        help=f"SQLAlchemy URL (default {default_storage_url()}; "
        "postgresql://user@host/db for many machines)",
    )
    help = f"finished trials the study should reach (default: the space's, else {DEFAULT_TRIALS})"
    p.add_argument("--trials", type=positive_int, help=help)
    p.add_argument(
        "--timeout", type=positive_number, help="stop starting trials after this many seconds"
    )
    add_device(p, "the space's device")
    help = "training seed for every trial (default %(default)s)"
    p.add_argument("--seed", type=int, default=RunOptions.seed, help=help)
    help = f"seconds between worker heartbeats (default {HEARTBEAT_SECONDS})"
    p.add_argument("--heartbeat", type=int, help=help)
    p.add_argument(
        "--grace",
        type=int,
        help="seconds without a heartbeat before a trial is failed and retried (default "
        f"max({GRACE_SECONDS}, {MIN_GRACE_HEARTBEATS} x heartbeat); at least "
        f"{MIN_GRACE_HEARTBEATS} heartbeats)",
    )
    add_artifacts(p)
    return p


def run_options(args: argparse.Namespace) -> RunOptions:
    """The ``run`` sub-command's arguments as the runner's options (each flag's dest is the
    option's name)."""
    return RunOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunOptions)})


def cmd_run(args: argparse.Namespace) -> int:
    from study.run.runner import run_study

    run_study(run_options(args))
    return 0


def add_dashboard(sub: Sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "dashboard",
        help="watch studies in optuna-dashboard (notes, curves per trial)",
        description="Serve optuna-dashboard on the study storage, with the per-trial curves "
        f"files that run writes. Listens on {DEFAULT_HOST} unless --host says otherwise: it has "
        "no authentication.",
    )
    help = f"SQLAlchemy URL of an existing storage (default {default_storage_url()})"
    p.add_argument("--storage", help=help)
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default %(default)s; 0.0.0.0 lets anyone on the network "
        "read, edit and delete studies: no authentication)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="default %(default)s")
    add_artifacts(p)
    return p


def cmd_dashboard(args: argparse.Namespace) -> int:
    from study.dashboard.server import serve_dashboard

    serve_dashboard(args.storage, host=args.host, port=args.port, artifacts=args.artifacts)
    return 0
