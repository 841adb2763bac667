"""``python -m study ablate``: the plan, printed; then its runs, in this worker and any other.

Re-running the same command continues: finished runs are kept and never rerun. The report reads
the linked study (``<study>:ablate``) and shows the measured effects beside the search's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import optuna
from optuna.trial import TrialState

from study.ablate.measure import early_stopping_pruner, trainer_measure
from study.ablate.plan import DEFAULT_SEEDS, DESIGNS, AblationPlan
from study.ablate.resolve import estimate, format_plan, resolve_plan, space_points
from study.ablate.runs import observed, open_linked, record_design
from study.ablate.session import RerunOptions, open_session, run_plan
from study.ablate.summary import summary_lines
from study.ablate.worker import Measure
from study.commands import ablate_command, report_command, rerun_command
from study.rebuild import StudyRun
from study.records import BASELINE
from study.run.interrupt import InterruptGate
from study.space.spec import SearchSpace
from vitlab.errors import UserError

__all__ = ["AblateOptions", "ablate", "next_command"]


@dataclass(frozen=True)
class AblateOptions(RerunOptions):
    """``ablate``'s options as given; None where a flag was left out."""

    to: str = "best"
    design: str = "factorial"
    seeds: int = DEFAULT_SEEDS
    epochs: int | None = None
    plan_only: bool = False


def ablate(
    opts: AblateOptions,
    out: TextIO = sys.stdout,
    measure: Callable[[StudyRun, optuna.Study, InterruptGate], Measure] | None = None,
) -> AblationPlan | None:
    """Plan the ablation ``opts`` asks for, print it, and (unless ``plan_only``) run it.

    ``measure`` makes the function that measures one run (default: train it); returns the plan,
    or None when the target equals the baseline in every scientific parameter.
    """
    if opts.design not in DESIGNS:
        raise UserError(f"--design {opts.design}: expected one of {', '.join(DESIGNS)}")
    session = open_session(opts)
    name, url, study, run = session.name, session.url, session.study, session.run
    plan = _plan(opts, study, run)
    if not plan.factors:
        points = list(space_points(run.space))
        ask = (
            f"name a point with --to ({', '.join(points)})" if points else "name a point with --to"
        )
        print(
            f"nothing to ablate: {plan.target_label} has the baseline's value of every "
            f"scientific parameter; {ask}",
            file=out,
        )
        return None
    linked = open_linked(session.storage, name, early_stopping_pruner(run.space))
    val_images = int(run.record.split_summary.get("images_per_split", {}).get("val", 0))
    print(format_plan(plan, estimate(plan, study, observed(linked), val_images)), file=out)
    if opts.plan_only:
        print(f"run it: {ablate_command(opts, name, url)}", file=out)
        return plan
    record_design(linked, session.storage, plan)
    make = measure or _train(opts)
    run_plan(
        session,
        linked,
        plan,
        lambda gate: make(run, linked, gate),
        out=out,
        resume=ablate_command(opts, name, url),
    )
    for line in summary_lines(plan, observed(linked)):
        print(line, file=out)
    print(f"report: {report_command(name, url, opts.artifacts)}", file=out)
    print(f"next: {rerun_command('confirm', name, url)}", file=out)
    return plan


def _plan(opts: AblateOptions, study: optuna.Study, run: StudyRun) -> AblationPlan:
    return resolve_plan(
        study,
        run.space,
        to=opts.to,
        design=opts.design,
        seeds=opts.seeds,
        epochs=opts.epochs,
        default_epochs=run.config(run.record.baseline_params).epochs,
        train_seed=run.record.train_seed or 0,
    )


def _train(opts: AblateOptions) -> Callable[[StudyRun, optuna.Study, InterruptGate], Measure]:
    def make(run: StudyRun, linked: optuna.Study, gate: InterruptGate) -> Measure:
        return trainer_measure(run, device=opts.device, gate=gate, artifacts=opts.artifacts)

    return make


def next_command(study: optuna.Study, space: SearchSpace, url: str, artifacts: Path) -> str:
    """What to run after the search: the ablation from the baseline to the best trial; when the
    best trial is the baseline, to the space's first point (the seed's fix list)."""
    to = "best"
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if space.points and (not complete or study.best_trial.user_attrs.get(BASELINE)):
        to = next(iter(space.points))
    return ablate_command(AblateOptions(to=to, artifacts=artifacts), study.study_name, url)
