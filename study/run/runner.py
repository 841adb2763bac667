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
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from study import records
from study.commands import dashboard_command, optuna_command, run_command
from study.dashboard.notes import study_note, write_study_note
from study.data import PreparedSplit, prepare_split
from study.run.interrupt import InterruptGate
from study.run.loop import StopAfterFailures, optimize
from study.run.objective import Objective, TrialEvents
from study.run.progress import FINISHED, Progress
from study.space.load import load_space
from study.space.spec import SearchSpace
from study.storage import (
    DEFAULT_ARTIFACTS,
    default_storage_url,
    exclusive,
    heartbeat_settings,
    open_storage,
)
from vitlab.config import DataConfig
from vitlab.dataset import Dataset, check_val_classes, load_dataset
from vitlab.errors import UserError
from vitlab.models import ModelError, check_pretrained

DEFAULT_SPACE = Path("search_spaces/demo.yaml")
DEFAULT_TRIALS = 12
MAX_CONSECUTIVE_FAILURES = 3
METRIC = "val_top1"  # what every trial's value is: the best epoch's val top-1


class Interrupted(UserError):
    """Ctrl-C or SIGTERM: the running trial was marked failed; the message says how to resume."""

    prefix = ""

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


@dataclass(frozen=True)
class RunOptions:
    space: Path = DEFAULT_SPACE
    data: Path | None = None  # a manifest or an image folder
    train: Path | None = None  # or split files
    val: Path | None = None
    test: Path | None = None
    study_name: str | None = None
    storage: str | None = None
    trials: int | None = None
    timeout: float | None = None
    device: str | None = None
    seed: int = 0
    heartbeat: int | None = None
    grace: int | None = None
    artifacts: Path = DEFAULT_ARTIFACTS  # each trial's curves.html, for optuna-dashboard


def load_study_dataset(
    opts: RunOptions, space: SearchSpace, out: TextIO
) -> tuple[Dataset, dict[str, Any], str]:
    """The split (computed once, the same for every trial and worker) and its image cache."""
    prepared = prepare_study_split(opts, space, out)
    return cache_study_dataset(prepared, space), prepared.summary, prepared.source


def prepare_study_split(opts: RunOptions, space: SearchSpace, out: TextIO) -> PreparedSplit:
    """The checked split, before anything slow: a dataset a study cannot use fails here.

    The space's ``data`` section gives every setting; ``--data`` or ``--train/--val/--test``
    replace only its source. A manifest's split is written to results/splits/<name>/.
    """
    prepared = prepare_split(study_data_config(opts, space), out=out)
    check_val_classes(prepared.split, prepared.source)
    print(prepared.describe(), file=out)
    return prepared


def cache_study_dataset(prepared: PreparedSplit, space: SearchSpace) -> Dataset:
    """The split's images decoded once into the image cache (slow the first time)."""
    image_size = space.train_config(space.baseline).image_size
    return load_dataset(prepared.data, image_size=image_size, split=prepared.split)


def study_data_config(opts: RunOptions, space: SearchSpace) -> DataConfig:
    """The space's data section with the command line's source, if it names one."""
    data = space.data_config() or DataConfig()
    if opts.test is not None and opts.train is None:
        raise UserError("--test goes with --train and --val (a --data manifest is split here)")
    if opts.train is not None or opts.val is not None:
        if opts.train is None or opts.val is None:
            raise UserError("--train and --val go together")
        files = {
            "train": str(opts.train),
            "val": str(opts.val),
            "test": None if opts.test is None else str(opts.test),
        }
        return dataclasses.replace(data, manifest=None, **files)
    if opts.data is not None:
        return dataclasses.replace(data, manifest=str(opts.data), train=None, val=None, test=None)
    return data


def check_weights(space: SearchSpace) -> None:
    """Every local weights file a trial may load exists: else every such trial would fail."""
    missing = [str(f) for f in space.weights_files() if not f.is_file()]
    if missing:
        raise UserError(
            f"{space.source}: pretrained weights not found: {', '.join(missing)}; make them "
            f"with: python -m study pretrain --space {space.source}"
        )
    check_hub_weights(space)


def check_hub_weights(space: SearchSpace) -> None:
    """Every hub weight a trial may load is cached, or the hub is reachable: else every such
    trial would fail (offline, after its data is loaded). Loading the space never needs this."""
    choices = {p.name: list(p.choices or ()) for p in space.params if p.type == "categorical"}
    models = choices.get("model") or [space.baseline.get("model")]
    for weights in sorted(
        {space.baseline.get("pretrained"), *choices.get("pretrained", ())}, key=str
    ):
        for model in models:
            params = {**space.baseline, "pretrained": weights, "model": model}
            config = space.train_config({k: v for k, v in params.items() if v is not None})
            if config.pretrained is None or Path(config.pretrained).is_file():
                continue
            try:
                check_pretrained(config.model, config.pretrained)
            except ModelError as e:
                hint = (
                    ", or drop it from params.pretrained.choices" if "pretrained" in choices else ""
                )
                where = f"{space.source}: pretrained {config.pretrained!r} for {config.model}"
                raise UserError(f"{where}: {e}{hint}") from None


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
    # Our progress lines say what Optuna's log lines say (per epoch, with reasons and errors),
    # without a traceback per failed trial; --debug on the CLI still shows ours.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = load_space(opts.space)
    check_weights(space)
    name = opts.study_name or space.name
    url = opts.storage or default_storage_url()
    total = opts.trials or space.trials or DEFAULT_TRIALS
    heartbeat_settings(opts.heartbeat, opts.grace)  # bad flags fail before the data is read
    # The split first: a dataset the study cannot use must not leave an empty database behind.
    # Then the storage, before the slow image cache: a bad URL must not wait for it.
    prepared = prepare_study_split(opts, space, out)
    summary, source = prepared.summary, prepared.source
    storage = open_storage(url, heartbeat_interval=opts.heartbeat, grace_period=opts.grace)
    dataset = cache_study_dataset(prepared, space)

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
    _record_study(study, space, dataset, summary, source, opts)
    report = Path("reports") / f"{name}.html"
    write_study_note(
        study,
        storage,
        study_note(
            name=name,
            space=str(opts.space),
            source=source,
            storage=url,
            summary=summary,
            artifacts=str(opts.artifacts),
            report=str(report) if report.exists() else None,
        ),
    )
    # The seed's recipe is always measured, first: every effect is read against it. Workers
    # starting together must enqueue it once: check and write under one database-wide lock.
    with exclusive(storage, f"study:{name}:baseline"):
        if not any(t.user_attrs.get(records.BASELINE) for t in study.get_trials(deepcopy=False)):
            study.enqueue_trial(
                dict(space.baseline), user_attrs={records.BASELINE: True}, skip_if_exists=True
            )

    done = _count(study, FINISHED)
    print(f"study {name!r} on {url}: {done}/{total} trials finished; space {opts.space}", file=out)
    progress = Progress(total, out=out)
    if done < total:
        gate = InterruptGate()
        objective = Objective(
            space,
            dataset,
            device=opts.device,
            seed=opts.seed,
            events=TrialEvents(progress.on_start, progress.on_epoch),
            gate=gate,
            artifact_store=_artifact_store(opts.artifacts),
        )
        try:
            with gate:
                optimize(
                    study,
                    objective,
                    timeout=opts.timeout or space.timeout,  # the space's safety net
                    callbacks=[
                        objective.finished,
                        MaxTrialsCallback(total, states=FINISHED),
                        progress.callback,
                        StopAfterFailures(MAX_CONSECUTIVE_FAILURES),
                        gate.callback,
                    ],
                    out=out,
                )
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted ({gate.signal_name}): the running trial is marked failed and every "
                f"finished trial is saved in {url}. Resume with: {run_command(opts, name, url)}",
                signum=gate.signum,
            ) from None
    _print_end(study, url, opts.artifacts, out)
    return study


def _record_study(
    study: optuna.Study,
    space: SearchSpace,
    dataset: Dataset,
    summary: dict[str, Any],
    source: str,
    opts: RunOptions,
) -> None:
    """Study user attrs: what a later report (or a rerun with another seed) needs."""
    attrs = study.user_attrs
    old = attrs.get("dataset_fingerprint")
    if old is not None and old != dataset.fingerprint:
        raise UserError(
            f"study {study.study_name!r} was run on other data (fingerprint {old[:12]}, now "
            f"{dataset.fingerprint[:12]}); use another --study name to compare"
        )
    seed = attrs.get("train_seed")
    if old is not None and seed is not None and seed != opts.seed:
        # One study, one training seed: its trials compare only if they share it.
        raise UserError(
            f"--seed {opts.seed}: study {study.study_name!r} was run with --seed {seed}; "
            f"continue it with --seed {seed}, or give another --study name"
        )
    if old is None:
        study.set_user_attr("dataset_fingerprint", dataset.fingerprint)
        study.set_user_attr("data_source", source)
        study.set_user_attr("split_summary", summary)
        study.set_user_attr("space", space.as_dict())
        study.set_user_attr("roles", space.roles())
        study.set_user_attr("baseline", dict(space.baseline))
        study.set_user_attr("train_seed", opts.seed)
        study.set_user_attr("versions", versions())
        study.set_user_attr("train_counts", [int(c) for c in dataset.train_counts()])
        study.set_user_attr("classes", list(dataset.classes))


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
            f"best: trial {best.number + 1}, val top1 {best.value:.1%} at epoch "
            f"{best.user_attrs.get('best_epoch')}; params {best.params}",
            file=out,
        )
        baseline = [t for t in complete if t.user_attrs.get(records.BASELINE)]
        if baseline:
            print(f"baseline (the seed's recipe): val top1 {baseline[0].value:.1%}", file=out)
    print(f"study {study.study_name!r} lives in {url}", file=out)
    print(f"watch it: {dashboard_command(url, artifacts)}", file=out)
    print(f"or: {optuna_command('trials', study.study_name, url)}", file=out)
