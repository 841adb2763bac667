"""The ``ablate`` sub-command: what each fix really buys, measured by designed reruns."""

from __future__ import annotations

import argparse

from study.ablate.plan import DEFAULT_SEEDS, DESIGNS
from study.cli.arguments import (
    Sub,
    add_study_option,
    add_worker_options,
    positive_int,
    rerun_fields,
)

__all__ = ["add_ablate", "cmd_ablate"]


def add_ablate(sub: Sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "ablate",
        help="measure what each fix buys: designed reruns from the baseline to a target",
        description="Rerun the study's configurations as a designed experiment from its "
        "baseline (the seed's recipe) to a target, each design point with several seeds, and "
        "state each factor's effect on val top-1 with a 95 %% interval. The runs are trials "
        "of the linked study <study>:ablate in the same storage (optuna-dashboard shows "
        "them); the same command resumes, and several processes share the runs.",
    )
    add_study_option(p)
    p.add_argument(
        "--to",
        default="best",
        metavar="best|POINT",
        help="the target: the study's best trial (default), or a point of the space's "
        "points: section (fix_list: the seed's own fix list)",
    )
    p.add_argument(
        "--design",
        choices=DESIGNS,
        default=DESIGNS[0],
        help="factorial (default): a full 2^k design for k <= 4 factors, else a resolution "
        "IV fraction; path: the Fawcett-Hoos greedy path plus leave-one-out",
    )
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=DEFAULT_SEEDS,
        help="seeds per design point (default %(default)s)",
    )
    p.add_argument("--epochs", type=positive_int, help="epochs per run (default: the study's)")
    p.add_argument(
        "--plan",
        action="store_true",
        help="print the design, its runs, time and expected interval, then exit",
    )
    add_worker_options(p)
    return p


def cmd_ablate(args: argparse.Namespace) -> int:
    from study.ablate.command import AblateOptions, ablate

    ablate(
        AblateOptions(
            **rerun_fields(args),
            to=args.to,
            design=args.design,
            seeds=args.seeds,
            epochs=args.epochs,
            plan_only=args.plan,
        )
    )
    return 0
