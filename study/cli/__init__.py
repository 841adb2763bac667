"""The command line: parse arguments, call one function, print. No logic lives here.

Each sub-command is an ``add_<cmd>`` (its arguments) beside its ``cmd_<cmd>`` (the call):
:mod:`study.cli.search` holds ``run`` and ``dashboard``, :mod:`study.cli.single` the
single-run commands, :mod:`study.cli.arguments` what several share. Every default and choice
comes from the module that owns it, so ``--help`` says what the code does.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from study.cli.ablate import add_ablate, cmd_ablate
from study.cli.arguments import DEBUG_HELP, Command, Sub, add_debug
from study.cli.diagnose import add_diagnose, cmd_diagnose
from study.cli.report import add_report, cmd_report
from study.cli.rerun import add_audit, add_confirm, cmd_audit, cmd_confirm
from study.cli.search import add_dashboard, add_run, cmd_dashboard, cmd_run, run_options
from study.cli.single import (
    DEMO_TRAIN_CONFIG,
    add_cache,
    add_demo,
    add_pretrain,
    add_split,
    add_train,
    cmd_cache,
    cmd_demo,
    cmd_pretrain,
    cmd_split,
    cmd_train,
)
from vitlab.errors import UserError

__all__ = ["COMMANDS", "DEMO_TRAIN_CONFIG", "build_parser", "main", "run_options"]

EPILOG = "Run 'python -m study COMMAND --help' for a command's options."
# Each sub-command, in the order --help lists them: its arguments and its call.
COMMANDS: tuple[tuple[Callable[[Sub], argparse.ArgumentParser], Command], ...] = (
    (add_run, cmd_run),
    (add_dashboard, cmd_dashboard),
    (add_report, cmd_report),
    (add_ablate, cmd_ablate),
    (add_confirm, cmd_confirm),
    (add_audit, cmd_audit),
    (add_diagnose, cmd_diagnose),
    (add_split, cmd_split),
    (add_cache, cmd_cache),
    (add_train, cmd_train),
    (add_pretrain, cmd_pretrain),
    (add_demo, cmd_demo),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m study",
        description="Hyperparameter search and ablation studies for image classifiers.",
        epilog=EPILOG,
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add, cmd in COMMANDS:
        p = add(sub)
        add_debug(p)  # last in every command's help
        p.set_defaults(func=cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except UserError as e:
        if args.debug:
            raise
        print(f"{e.prefix}{e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:  # Ctrl-C outside a study: nothing half-written is kept
        print(
            "\ninterrupted: nothing half-written was kept; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except Exception as e:  # a bug: still one clear line, the traceback behind --debug
        if args.debug:
            raise
        where = traceback.extract_tb(e.__traceback__)[-1]
        print(
            f"internal error: {type(e).__name__}: {e} (at {Path(where.filename).name}:"
            f"{where.lineno}; rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
