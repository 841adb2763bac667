"""``python -m study run``: a search space, a dataset split once, and an Optuna study on storage.

Many processes may run this on the same storage: they share one study (Optuna's own distributed
mode). Re-running continues the study until it has the requested number of finished trials.
"""

from __future__ import annotations

import dataclasses
import platform
import signal
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.storages import RDBStorage
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from study import records
from study.commands import dashboard_command, optuna_command, report_command, run_command
from study.dashboard.notes import study_note, write_study_note
from study.data import PreparedSplit, prepare_split
from study.report.publish import default_report_path, note_line, write_report
from study.run.interrupt import InterruptGate
from study.run.loop import StopAfterFailures, optimize
from study.run.objective import Objective, TrialEvents
from study.run.plan import RunOptions, RunPlan, plan_run
from study.run.preflight import check_weights
from study.run.progress import FINISHED, Progress
from study.space.load import load_space
from study.space.spec import SearchSpace
from study.storage import exclusive, open_storage
from vitlab.config import DataConfig
from vitlab.dataset import Dataset, check_val_classes, load_dataset
from vitlab.errors import UserError

MAX_CONSECUTIVE_FAILURES = 3
METRIC = records.VAL_TOP1  # what every trial's value is: the best epoch's val top-1


class Interrupted(UserError):
    """Ctrl-C or SIGTERM: the running trial was marked failed; the message says how to resume."""

    prefix = ""

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def load_study_dataset(
    opts: RunOptions, space: SearchSpace, out: TextIO
) -> tuple[Dataset, dict[str, Any], str]:
    """The split (computed once, the same for every trial and worker) and its image cache."""
    plan = plan_run(opts, space)
    prepared = prepare_study_split(plan.data, out)
    return cache_study_dataset(prepared, plan.image_size), prepared.summary, prepared.source


def prepare_study_split(data: DataConfig, out: TextIO) -> PreparedSplit:
    """The checked split, before anything slow: a dataset a study cannot use fails here.

    The space's ``data`` section gives every setting; ``--data`` or ``--train/--val/--test``
    replace only its source (:func:`~study.run.plan.study_data_config`). A manifest's split is
    written to results/splits/<name>/.
    """
    prepared = prepare_split(data, out=out)
    check_val_classes(prepared.split, prepared.source)
    print(prepared.describe(), file=out)
    return prepared


def cache_study_dataset(prepared: PreparedSplit, image_size: int) -> Dataset:
    """The split's images decoded once into the image cache (slow the first time)."""
    return load_dataset(prepared.data, image_size=image_size, split=prepared.split)


def versions() -> dict[str, str]:
    names = ("optuna", "torch", "timm", "torchvision", "numpy", "pandas", "study")
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def run_study(opts: RunOptions, out: TextIO = sys.stdout) -> optuna.Study:
    """Run (or continue) the study ``opts`` names until it has its finished trials."""
    # Our progress lines say what Optuna's log lines say (per epoch, with reasons and errors),
    # without a traceback per failed trial; --debug on the CLI still shows ours.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = load_space(opts.space)
    check_weights(space)
    plan = plan_run(opts, space)  # bad flags fail before the data is read
    name, url, total = plan.study_name, plan.storage_url, plan.trials
    # The split first: a dataset the study cannot use must not leave an empty database behind.
    # Then the storage, before the slow image cache: a bad URL must not wait for it.
    prepared = prepare_study_split(plan.data, out)
    storage = open_storage(url, heartbeat_interval=plan.heartbeat, grace_period=plan.grace)
    dataset = cache_study_dataset(prepared, plan.image_size)
    study = _open_study(name, storage, space)
    _record_study(study, plan, dataset, prepared)
    _write_study_note(study, storage, plan, prepared)
    _enqueue_baseline(study, storage, space)
    done = _count(study, FINISHED)
    print(f"study {name!r} on {url}: {done}/{total} trials finished; space {opts.space}", file=out)
    progress = Progress(total, out=out)
    if done < total:
        _run_trials(study, plan, dataset, progress, run_command(opts, name, url), out)
    _print_end(study, url, plan.artifacts, out)
    _write_report(study, storage, plan, out)
    from study.ablate.command import next_command  # the ablation is the workflow's next step

    print(f"next: {next_command(study, space, url, plan.artifacts)}", file=out)
    return study


def _record_study(
    study: optuna.Study, plan: RunPlan, dataset: Dataset, prepared: PreparedSplit
) -> None:
    """Study user attrs: what a later report (or a rerun with another seed) needs."""
    space = plan.space
    old = records.StudyRecord.from_study(study)
    fingerprint, seed = old.dataset_fingerprint, old.train_seed
    if fingerprint is not None and fingerprint != dataset.fingerprint:
        raise UserError(
            f"study {study.study_name!r} was run on other data (fingerprint {fingerprint[:12]}, "
            f"now {dataset.fingerprint[:12]}); use another --study name to compare"
        )
    if fingerprint is not None and seed is not None and seed != plan.seed:
        # One study, one training seed: its trials compare only if they share it.
        raise UserError(
            f"--seed {plan.seed}: study {study.study_name!r} was run with --seed {seed}; "
            f"continue it with --seed {seed}, or give another --study name"
        )
    if fingerprint is None:
        records.StudyRecord(
            dataset_fingerprint=dataset.fingerprint,
            data_source=prepared.source,
            split_summary=prepared.summary,
            space=space.as_dict(),
            roles=space.roles(),
            baseline_params=dict(space.baseline),
            train_seed=plan.seed,
            versions=versions(),
            train_counts=[int(c) for c in dataset.train_counts()],
            classes=list(dataset.classes),
            class_counts=[int(dataset.class_counts.get(c, 0)) for c in dataset.classes],
            split_files=prepared.files,
            data_config=dataclasses.asdict(prepared.data),
        ).write(study)


def _write_study_note(
    study: optuna.Study, storage: RDBStorage, plan: RunPlan, prepared: PreparedSplit
) -> None:
    """The study's note in optuna-dashboard: how it was run and where its results live."""
    report = default_report_path(plan.study_name)
    body = study_note(
        name=plan.study_name,
        space=str(plan.space.source),
        source=prepared.source,
        storage=plan.storage_url,
        summary=prepared.summary,
        artifacts=str(plan.artifacts),
        report=note_line(report) if report.exists() else None,
    )
    write_study_note(study, storage, body)


def _enqueue_baseline(study: optuna.Study, storage: RDBStorage, space: SearchSpace) -> None:
    """The seed's recipe is always measured, first: every effect is read against it. Workers
    starting together must enqueue it once: check and write under one database-wide lock."""
    with exclusive(storage, f"study:{study.study_name}:baseline"):
        if not any(t.user_attrs.get(records.BASELINE) for t in study.get_trials(deepcopy=False)):
            study.enqueue_trial(
                dict(space.baseline), user_attrs={records.BASELINE: True}, skip_if_exists=True
            )


def _open_study(name: str, storage: RDBStorage, space: SearchSpace) -> optuna.Study:
    """The study on ``storage`` (created the first time), maximizing its named metric."""
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=space.make_sampler(),
        pruner=space.make_pruner(),
        direction="maximize",
        load_if_exists=True,
    )
    with warnings.catch_warnings():  # set_metric_names is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([METRIC])  # optuna-dashboard and `optuna best-trial` name it
    return study


def _run_trials(
    study: optuna.Study,
    plan: RunPlan,
    dataset: Dataset,
    progress: Progress,
    resume: str,
    out: TextIO,
) -> None:
    """This worker's trials until the study has ``plan.trials`` finished ones (or time is up);
    Ctrl-C or SIGTERM ends them as :class:`Interrupted`, saying to ``resume`` with the command."""
    gate = InterruptGate()
    objective = Objective(
        plan.space,
        dataset,
        device=plan.device,
        seed=plan.seed,
        events=TrialEvents(progress.on_start, progress.on_epoch),
        gate=gate,
        artifact_store=_artifact_store(plan.artifacts),
    )
    try:
        with gate:
            optimize(
                study,
                objective,
                timeout=plan.timeout,
                callbacks=[
                    objective.finished,
                    MaxTrialsCallback(plan.trials, states=FINISHED),
                    progress.callback,
                    StopAfterFailures(MAX_CONSECUTIVE_FAILURES),
                    gate.callback,
                ],
                out=out,
            )
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted ({gate.signal_name}): the running trial is marked failed and every "
            f"finished trial is saved in {plan.storage_url}. Resume with: {resume}",
            signum=gate.signum,
        ) from None


def _artifact_store(folder: Path) -> FileSystemArtifactStore:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"artifact folder {folder} cannot be created: {e.strerror}") from None
    return FileSystemArtifactStore(folder.resolve())


def _count(study: optuna.Study, states: tuple[TrialState, ...]) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def _print_end(study: optuna.Study, url: str, artifacts: Path, out: TextIO) -> None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = study.best_trial
        print(
            f"best: trial {best.number}, val top1 {best.value:.1%} at epoch "
            f"{records.TrialRecord.from_trial(best).best_epoch}; params {best.params}",
            file=out,
        )
        baseline = [t for t in complete if t.user_attrs.get(records.BASELINE)]
        if baseline:
            print(f"baseline (the seed's recipe): val top1 {baseline[0].value:.1%}", file=out)
    print(f"study {study.study_name!r} lives in {url}", file=out)
    print(f"watch it: {dashboard_command(url, artifacts)}", file=out)
    print(f"or: {optuna_command('trials', study.study_name, url)}", file=out)


def _write_report(study: optuna.Study, storage: RDBStorage, plan: RunPlan, out: TextIO) -> None:
    """The study's report, written as the run ends; its failure costs no finished trial."""
    path = default_report_path(study.study_name)
    try:
        write_report(
            study,
            storage,
            _artifact_store(plan.artifacts),
            path,
            storage_url=plan.storage_url,
            artifacts=plan.artifacts,
            out=out,
        )
    except Exception as e:  # the trials are saved; the report can be rebuilt with `report`
        print(
            f"warning: report not written ({type(e).__name__}: {e}); rebuild it with: "
            f"{report_command(study.study_name, plan.storage_url, plan.artifacts)}",
            file=sys.stderr,
        )
        return
    print(f"report: {path}", file=out)
