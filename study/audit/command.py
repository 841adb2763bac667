"""``python -m study audit-pruner``: rerun a sample of the stopped trials (stratified by decision
kind: ``study.analysis.audit.audit_sample``) to the full epoch budget, each with its own
parameters and seed and no pruner at all, as trials of ``<study>:audit``. The same command
resumes, and several processes share the runs; the report's pruner-bias section reads them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TextIO

import optuna
from optuna.pruners import NopPruner

from study import records
from study.ablate.measure import trainer_measure
from study.ablate.resolve import duration_text
from study.ablate.runs import FixedRuns, RunSpec, observed, open_linked, run_key
from study.ablate.session import MakeMeasure, RerunOptions, RerunSession, open_session, run_plan
from study.ablate.worker import Measure
from study.analysis.audit import DEFAULT_SAMPLE
from study.analysis.audit_sample import Sampled, audit_sample, estimated_seconds
from study.audit.load import SAMPLE_ATTR, SUFFIX
from study.commands import report_command, rerun_command
from study.frame import trials_frame
from study.run.interrupt import InterruptGate

__all__ = ["DEFAULT_SAMPLE", "AuditOptions", "audit_command", "audit_pruner"]


@dataclass(frozen=True)
class AuditOptions(RerunOptions):
    """``audit-pruner``'s options as given; None where a flag was left out."""

    sample: int = DEFAULT_SAMPLE


def audit_command(opts: AuditOptions, study_name: str, url: str) -> str:
    """The command that runs (or resumes) this audit."""
    default = AuditOptions()
    options = (
        ("--sample", opts.sample, default.sample),
        *opts.worker_flags(),
    )
    return rerun_command("audit-pruner", study_name, url, options)


def audit_pruner(
    opts: AuditOptions, out: TextIO | None = None, measure: MakeMeasure | None = None
) -> tuple[Sampled, ...]:
    """Sample, print the plan, rerun every sampled trial not rerun yet; returns the sample."""
    out = out or sys.stdout
    session = open_session(opts)
    frame = trials_frame(session.study)
    sample = audit_sample(frame, opts.sample)
    report = report_command(session.name, session.url, opts.artifacts)
    if not sample:
        print(f"nothing to audit: no trial of {session.name} was pruned or stopped early", file=out)
        print(f"next: {report}", file=out)
        return sample
    specs = _specs(session, sample)
    linked = open_linked(session.storage, session.name, NopPruner(), SUFFIX)
    recorded = [_record(s, spec) for s, spec in zip(sample, specs, strict=True)]
    linked.set_user_attr(SAMPLE_ATTR, recorded)
    plan = FixedRuns(specs)
    done = plan.done(observed(linked))
    seconds = estimated_seconds(frame, sample)
    time = "" if seconds is None else f"; about {duration_text(seconds)} for all of them"
    kinds = ", ".join(f"{k} {n}" for k, n in _kinds(sample).items())
    print(
        f"audit-pruner {session.name}: rerun {len(sample)} stopped trials ({kinds}) to their "
        f"full epoch budget with their own seeds, no pruner ({done} done){time}",
        file=out,
    )
    run_plan(
        session,
        linked,
        plan,
        lambda gate: (measure or _train(opts, out))(session, linked, gate),
        out=out,
        resume=audit_command(opts, session.name, session.url),
    )
    print(f"the false-prune rate and what it cost: {report}", file=out)
    print(f"next: {report}", file=out)
    return sample


def _specs(session: RerunSession, sample: tuple[Sampled, ...]) -> list[RunSpec]:
    trials = {t.number: t for t in session.study.get_trials(deepcopy=False)}
    default_seed = session.run.record.train_seed or 0
    specs = []
    for s in sample:
        t = trials[s.trial]
        seed = t.user_attrs.get(records.SEED, default_seed)
        epochs = s.epochs or session.run.config(t.params).epochs  # 0: not recorded
        point = f"trial {s.trial} rerun, seed {seed}"
        specs.append(RunSpec(dict(t.params), int(seed), epochs, point=point))
    return specs


def _record(s: Sampled, spec: RunSpec) -> dict[str, Any]:
    return {"trial": s.trial, "kind": s.kind, "key": run_key(spec.params, spec.seed, spec.epochs)}


def _kinds(sample: tuple[Sampled, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in sample:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    return counts


def _train(opts: AuditOptions, out: TextIO) -> MakeMeasure:
    def make(session: RerunSession, linked: optuna.Study, gate: InterruptGate) -> Measure:
        return trainer_measure(session.run, device=opts.device, gate=gate, artifacts=opts.artifacts)

    return make
