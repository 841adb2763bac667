"""The ``report`` sub-command: a study's one offline HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path

from study.cli.arguments import Sub, add_artifacts
from study.storage import default_storage_url

__all__ = ["add_report", "cmd_report"]


def add_report(sub: Sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "report",
        help="write a study's HTML report: which fixes matter, and how sure we are",
        description="Write one self-contained HTML page (it opens from disk, offline) from the "
        "study's finished trials: the answer first, then what mattered, the overfitting "
        "diagnosis, per-parameter views, size and cost, the long tail and every trial. Works "
        "on a study that is still running.",
    )
    p.add_argument(
        "--study",
        dest="study_name",
        metavar="STUDY",
        help="study name (default: the storage's only study)",
    )
    help = f"SQLAlchemy URL of an existing storage (default {default_storage_url()})"
    p.add_argument("--storage", help=help)
    p.add_argument("--out", type=Path, help="the HTML file (default reports/<study>.html)")
    p.add_argument(
        "--group-by",
        metavar="FIELD",
        help="a manifest field (genus, family...) to group classes by in the long-tail section",
    )
    add_artifacts(p)
    return p


def cmd_report(args: argparse.Namespace) -> int:
    from study.report.publish import report_study

    report_study(
        args.study_name,
        storage_url=args.storage,
        path=args.out,
        group_by=args.group_by,
        artifacts=args.artifacts,
    )
    return 0
