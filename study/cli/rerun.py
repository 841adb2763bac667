"""The ``confirm`` and ``audit-pruner`` sub-commands: reruns that check the search's answer."""

from __future__ import annotations

import argparse

from study.cli.arguments import (
    Sub,
    add_study_option,
    add_worker_options,
    positive_int,
    rerun_fields,
)

__all__ = ["add_audit", "add_confirm", "cmd_audit", "cmd_confirm"]


def add_confirm(sub: Sub) -> argparse.ArgumentParser:
    from study.confirm.select import DEFAULT_SEEDS, DEFAULT_TOP

    p = sub.add_parser(
        "confirm",
        help="rerun the top configurations with fresh seeds and score the test split once",
        description="Rerun the study's top K configurations by val top-1 and its baseline, "
        "each with S fresh seeds, choose each run's epoch on val as the search did, and score "
        "the held-out test split once, at that epoch: the only step that reads it. The runs "
        "are trials of the linked study <study>:confirm; the same command resumes, and "
        "several processes share the runs. The report shows the optimism and Kendall tau.",
    )
    add_study_option(p)
    p.add_argument(
        "--top",
        type=positive_int,
        default=DEFAULT_TOP,
        help="configurations to confirm, best first (default %(default)s; the baseline comes too)",
    )
    p.add_argument(
        "--seeds", type=positive_int, default=DEFAULT_SEEDS, help="seeds each (default %(default)s)"
    )
    add_worker_options(p)
    return p


def cmd_confirm(args: argparse.Namespace) -> int:
    from study.confirm.command import ConfirmOptions, confirm

    confirm(ConfirmOptions(**rerun_fields(args), top=args.top, seeds=args.seeds))
    return 0


def add_audit(sub: Sub) -> argparse.ArgumentParser:
    from study.analysis.audit import DEFAULT_SAMPLE

    p = sub.add_parser(
        "audit-pruner",
        help="rerun a sample of pruned and early-stopped trials to the full epoch budget",
        description="Rerun a sample of the trials the pruner stopped, stratified by decision "
        "kind, each to the full epoch budget with its own parameters and seed, and count the "
        "false prunes: those that would have finished in the top K. The runs are trials of "
        "the linked study <study>:audit; the same command resumes, and several processes "
        "share the runs. The report's pruner-bias section shows the audit.",
    )
    add_study_option(p)
    p.add_argument(
        "--sample",
        type=positive_int,
        default=DEFAULT_SAMPLE,
        help="stopped trials to rerun at most (default %(default)s)",
    )
    add_worker_options(p)
    return p


def cmd_audit(args: argparse.Namespace) -> int:
    from study.audit.command import AuditOptions, audit_pruner

    audit_pruner(AuditOptions(**rerun_fields(args), sample=args.sample))
    return 0
