"""``python -m study confirm``: rerun the top K configurations and the baseline with S fresh
seeds each, choose each run's epoch on val as the search did, and score the test split once, at
that epoch. The runs are trials of ``<study>:confirm``; the same command resumes, and several
processes share the runs. The report's "Confirmed on held-out test" section reads them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

import optuna
from optuna.artifacts import FileSystemArtifactStore

from study.ablate.measure import early_stopping_pruner, trainer_measure
from study.ablate.resolve import duration_text, seconds_per_epoch
from study.ablate.runs import FixedRuns, observed, open_linked
from study.ablate.session import MakeMeasure, RerunOptions, RerunSession, open_session, run_plan
from study.ablate.worker import Measure
from study.analysis.confirmed import get_confirmed_info
from study.analysis.inputs import ReportInputs
from study.commands import report_command, rerun_command
from study.confirm.load import load_confirm
from study.confirm.measure import score_test, summarize_test
from study.confirm.select import (
    CONFIGS_ATTR,
    DEFAULT_SEEDS,
    DEFAULT_TOP,
    SUFFIX,
    TEST_ATTR,
    Chosen,
    choose,
    confirm_seeds,
    run_specs,
)
from study.frame import trials_frame
from study.run.interrupt import InterruptGate

__all__ = ["ConfirmOptions", "confirm", "confirm_command"]


@dataclass(frozen=True)
class ConfirmOptions(RerunOptions):
    """``confirm``'s options as given; None where a flag was left out."""

    top: int = DEFAULT_TOP
    seeds: int = DEFAULT_SEEDS


def confirm_command(opts: ConfirmOptions, study_name: str, url: str) -> str:
    """The command that runs (or resumes) this confirmation."""
    default = ConfirmOptions()
    options = (
        ("--top", opts.top, default.top),
        ("--seeds", opts.seeds, default.seeds),
        *opts.worker_flags(),
    )
    return rerun_command("confirm", study_name, url, options)


def confirm(
    opts: ConfirmOptions, out: TextIO | None = None, measure: MakeMeasure | None = None
) -> tuple[Chosen, ...]:
    """Choose, print the plan, run every run not finished yet; returns the configurations."""
    out = out or sys.stdout
    session = open_session(opts)
    chosen = choose(session.study, opts.top)
    seeds = confirm_seeds(session.run.record.train_seed or 0, opts.seeds)
    epochs = session.run.config(session.run.record.baseline_params).epochs
    specs = run_specs(chosen, seeds, epochs)
    linked = open_linked(
        session.storage, session.name, early_stopping_pruner(session.run.space), SUFFIX
    )
    linked.set_user_attr(CONFIGS_ATTR, [c.record(seeds, epochs) for c in chosen])
    plan = FixedRuns(specs)
    _print_plan(session, chosen, seeds, epochs, plan.done(observed(linked)), out)
    run_plan(
        session,
        linked,
        plan,
        lambda gate: (measure or _train(opts, out))(session, linked, gate),
        out=out,
        resume=confirm_command(opts, session.name, session.url),
    )
    _print_summary(session, opts, out)
    return chosen


def _train(opts: ConfirmOptions, out: TextIO) -> MakeMeasure:
    def make(session: RerunSession, linked: optuna.Study, gate: InterruptGate) -> Measure:
        dataset = session.run.dataset(out)
        linked.set_user_attr(TEST_ATTR, summarize_test(dataset))
        store = FileSystemArtifactStore(str(opts.artifacts.resolve()))
        return trainer_measure(
            session.run,
            device=opts.device,
            gate=gate,
            artifacts=opts.artifacts,
            dataset=dataset,
            on_trained=score_test(dataset, store),
        )

    return make


def _print_plan(
    session: RerunSession,
    chosen: tuple[Chosen, ...],
    seeds: tuple[int, ...],
    epochs: int,
    done: int,
    out: TextIO,
) -> None:
    total = len(chosen) * len(seeds)
    per_epoch = seconds_per_epoch(session.study)
    time = (
        ""
        if per_epoch is None
        else (
            f"; at most {duration_text((total - done) * epochs * per_epoch)} at the study's "
            f"{per_epoch:.1f} s per epoch"
        )
    )
    print(
        f"confirm {session.name}: {len(chosen)} configurations x {len(seeds)} seeds "
        f"{list(seeds)} = {total} runs of {epochs} epochs ({done} done){time}",
        file=out,
    )
    for c in chosen:
        role = " (baseline)" if c.config.baseline else ""
        val = c.config.search_val
        print(f"  trial {c.config.trial}{role}: search val top-1 {val:.1%}", file=out)
    print(
        "  each run's epoch is chosen on val by the search's rule; the test split is scored "
        "once, at that epoch",
        file=out,
    )


def _print_summary(session: RerunSession, opts: ConfirmOptions, out: TextIO) -> None:
    """Each configuration's val and test means, and the section's verdict."""
    store = (
        FileSystemArtifactStore(str(opts.artifacts.resolve())) if opts.artifacts.is_dir() else None
    )
    inputs = ReportInputs(
        study_name=session.name,
        frame=trials_frame(session.study),
        study=session.run.record,
        confirm=load_confirm(session.name, session.storage, store),
    )
    info = get_confirmed_info(inputs)
    for r in info.rows:
        if r.val is None or r.test is None or r.optimism is None:
            continue
        print(
            f"trial {r.trial} ({r.role}): search val {r.search_val:.1%}, reruns val "
            f"{r.val.estimate:.1%}, test {r.test.estimate:.1%} ({r.test.low:.1%} to "
            f"{r.test.high:.1%}); optimism {100 * r.optimism:+.1f} points",
            file=out,
        )
    print(info.verdict, file=out)
    print(f"report: {report_command(session.name, session.url, opts.artifacts)}", file=out)
    audit = rerun_command("audit-pruner", session.name, session.url)
    print(f"next: {audit}", file=out)
