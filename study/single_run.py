"""``python -m study train``: one configuration (a YAML file, or a study's trial), trained and
recorded epoch by epoch."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import optuna
from optuna.trial import FrozenTrial

from study import records
from study.data import with_demo_data
from study.rebuild import study_run
from study.storage import default_storage_url, open_storage
from vitlab.config import TrainConfig, dump_yaml, load_train_config
from vitlab.errors import UserError
from vitlab.metrics import EpochMetrics

if TYPE_CHECKING:
    from vitlab.dataset import Dataset

TRAIN_ROOT = Path("results/train")


def format_epoch(m: EpochMetrics, epochs: int) -> str:
    return (
        f"epoch {m.epoch:>3}/{epochs}  loss {m.train_loss:.3f}  train top1 {m.train_top1:6.1%}"
        f"  val loss {m.val_loss:.3f}  val top1 {m.val_top1:6.1%}  top5 {m.val_top5:6.1%}"
        f"  gap {m.gap:+.3f}  lr {m.lr:.2e}  {m.epoch_seconds:5.1f}s"
        f"  {m.images_per_second:,.0f} img/s"
    )


def with_default_data(config: TrainConfig, out: TextIO | None = None) -> TrainConfig:
    """A config that names no data trains on the demo dataset (said in one line on ``out``)."""
    return dataclasses.replace(config, data=with_demo_data(config.data, out))


def train_config_file(
    config_path: Path,
    *,
    metrics_out: Path | None = None,
    checkpoint_dir: Path | None = None,
    device: str | None = None,
    out: TextIO | None = None,
) -> EpochMetrics | None:
    """Train one configuration file (see :func:`train_run`) in results/train/<config>/."""
    overrides = {"device": device} if device else None
    config = with_default_data(load_train_config(config_path, overrides), out)
    outputs = {"metrics_out": metrics_out, "checkpoint_dir": checkpoint_dir}
    return train_run(config, TRAIN_ROOT / config_path.stem, out=out, **outputs)


def train_run(
    config: TrainConfig,
    run_dir: Path,
    *,
    dataset: Dataset | None = None,
    metrics_out: Path | None = None,
    checkpoint_dir: Path | None = None,
    out: TextIO | None = None,
) -> EpochMetrics | None:
    """Train ``config`` (on ``dataset``, else the data it names), resuming from
    ``checkpoint_dir/last.pt`` when it exists.

    Each epoch is printed and appended to ``metrics_out`` (default ``run_dir/metrics.jsonl``)
    as it finishes, so an error or Ctrl-C loses nothing that was measured. The checkpoints and
    config.resolved.yaml go to ``checkpoint_dir`` (default ``run_dir/checkpoints``). Returns
    the best epoch.
    """
    out = out or sys.stdout  # read now: a test (or a caller) may have replaced it
    metrics_out = metrics_out or run_dir / "metrics.jsonl"
    checkpoint_dir = checkpoint_dir or run_dir / "checkpoints"
    # torch loads when training starts, not when the command line reads this module's defaults.
    from vitlab.train import Trainer

    # The Trainer refuses a last.pt of another configuration: nothing is written before that.
    trainer = Trainer(config, dataset=dataset, checkpoint_dir=checkpoint_dir)
    dump_yaml(config, checkpoint_dir / "config.resolved.yaml")
    metrics_out.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"model {config.model}: {trainer.num_params:,} parameters on {trainer.device.device}; "
        f"{len(trainer.train_part):,} train images of {len(trainer.class_filter.kept):,} "
        f"classes (min_images={config.min_images}), {len(trainer.dataset.val):,} val images",
        file=out,
    )
    # The metrics file always equals the history: rewrite what a resumed run already measured.
    metrics_out.write_text("".join(json.dumps(m.as_dict()) + "\n" for m in trainer.history))
    if trainer.start_epoch:
        print(
            f"resumed from {checkpoint_dir / 'last.pt'} after epoch {trainer.start_epoch}", file=out
        )
    for metrics in trainer.fit():
        append_jsonl(metrics_out, metrics.as_dict())
        print(format_epoch(metrics, config.epochs), file=out, flush=True)
    best = trainer.best()
    if best is not None:
        print(
            f"best epoch {best.epoch}: val top1 {best.val_top1:.1%}, val loss "
            f"{best.val_loss:.3f}; checkpoint {checkpoint_dir / 'best.pt'}; metrics "
            f"{metrics_out}",
            file=out,
        )
    return best


def trial_run_dir(
    study_name: str, trial: int, *, seed: int | None = None, epochs: int | None = None
) -> Path:
    """results/train/<study>-trial<N>, with -seed<S> / -epochs<E> when they are given."""
    name = f"{study_name}-trial{trial}"
    name += "" if seed is None else f"-seed{seed}"
    name += "" if epochs is None else f"-epochs{epochs}"
    return TRAIN_ROOT / name


def train_trial(
    study_name: str,
    trial: int,
    *,
    storage_url: str | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    metrics_out: Path | None = None,
    checkpoint_dir: Path | None = None,
    out: TextIO | None = None,
) -> EpochMetrics | None:
    """``train --study --trial``: retrain trial ``trial`` (Optuna's number; the baseline is 0)
    of a recorded study, all its epochs (``epochs`` to train longer) with no pruner, as
    :func:`train_run` in :func:`trial_run_dir`. ``seed`` None: the trial's own seed, else the
    study's; with the same seed and epochs on a CPU it repeats the trial's curves exactly."""
    out = out or sys.stdout
    study = load_study(study_name, storage_url)
    run = study_run(study)
    frozen = find_trial(study, trial)
    missing = [p.name for p in run.space.params if p.name not in frozen.params]
    if missing:
        raise UserError(
            f"trial {trial} of study {study_name!r} ({frozen.state.name}) has no value for "
            f"{', '.join(missing)}: it never started training"
        )
    params = {p.name: frozen.params[p.name] for p in run.space.params}
    used = seed if seed is not None else frozen.user_attrs.get(records.SEED)
    config = run.config(params, seed=used, epochs=epochs, device=device)
    print(
        f"study {study_name!r}, trial {trial} ({frozen.state.name.lower()}): {params}; seed "
        f"{config.seed}, {config.epochs} epochs, no pruner",
        file=out,
    )
    dataset = run.dataset(out)
    run_dir = trial_run_dir(study_name, trial, seed=seed, epochs=epochs)
    outputs = {"metrics_out": metrics_out, "checkpoint_dir": checkpoint_dir}
    return train_run(config, run_dir, dataset=dataset, out=out, **outputs)


def load_study(study_name: str, storage_url: str | None = None) -> optuna.Study:
    """Study ``study_name`` on an existing storage (default: the project's); UserError names
    the studies it has when it has no such study."""
    url = storage_url or default_storage_url()
    storage = open_storage(url, heartbeat=False)  # a reader: no heartbeat, no write check
    names = [s.study_name for s in storage.get_all_studies()]
    if study_name not in names:
        found = ", ".join(repr(n) for n in names) or "none"
        raise UserError(f"storage {url!r} has no study {study_name!r} (it has: {found})")
    return optuna.load_study(study_name=study_name, storage=storage)


def find_trial(study: optuna.Study, number: int) -> FrozenTrial:
    """Trial ``number`` (Optuna's, as optuna-dashboard shows it); UserError with the count."""
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        if t.number == number:
            return t
    has = f"{len(trials)} trials (0 to {len(trials) - 1})" if trials else "no trials"
    raise UserError(f"study {study.study_name!r} has no trial {number}: it has {has}")


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and flush it to disk, so a crash never loses a finished epoch."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
