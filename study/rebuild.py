"""The one place that rebuilds a study's run: (study record, parameters, seed, epochs) -> the
TrainConfig, and the dataset the study split.

The objective builds every trial's configuration with :func:`train_config`; ``train --trial``,
``ablate`` and any later rerun rebuild theirs from storage with :func:`study_run`, so a rerun
trains exactly what the study trained (the same space as it was recorded, the same split).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import optuna

from study.data import prepare_split
from study.records import DATA_CONFIG, StudyRecord
from study.space.load import space_from_dict
from study.space.spec import SearchSpace
from vitlab.config import DataConfig, TrainConfig, from_mapping
from vitlab.dataset import Dataset, load_dataset, split_fingerprint
from vitlab.errors import UserError

__all__ = ["StudyRun", "recorded_data_config", "study_run", "train_config"]


def train_config(
    space: SearchSpace,
    params: Mapping[str, Any],
    *,
    seed: int,
    epochs: int | None = None,
    device: str | None = None,
    data: DataConfig | None = None,
) -> TrainConfig:
    """``space.train_config(params, data)`` with ``seed`` (and ``epochs``, ``device`` when
    given) in place of the space's; a bad value is the config's own error."""
    changes: dict[str, Any] = {"seed": seed}
    if epochs is not None:
        changes["epochs"] = epochs
    if device:
        changes["device"] = device
    return dataclasses.replace(space.train_config(params, data), **changes)


@dataclass(frozen=True)
class StudyRun:
    """What rebuilds any run of a recorded study."""

    study_name: str
    space: SearchSpace  # as the study recorded it, not as its YAML file may read now
    record: StudyRecord
    data: DataConfig  # exactly what the run split (the demo's manifest filled in)
    image_size: int  # the image cache's size: the baseline's image_size, as the runner's

    def config(
        self,
        params: Mapping[str, Any],
        *,
        seed: int | None = None,
        epochs: int | None = None,
        device: str | None = None,
    ) -> TrainConfig:
        """The TrainConfig of ``params`` on the study's data; ``seed`` None: the study's."""
        if seed is None:
            seed = self.record.train_seed or 0
        return train_config(
            self.space, params, seed=seed, epochs=epochs, device=device, data=self.data
        )

    def dataset(self, out: TextIO) -> Dataset:
        """The study's split, checked against its fingerprint, and its image cache.

        The split is made as the runner made it, but written to a scratch folder: the study's
        own split files are never rewritten (they are its record, also when the data changed).
        """
        with tempfile.TemporaryDirectory(prefix="study-split-") as scratch:
            prepared = prepare_split(self.data, Path(scratch), out=out)
        fingerprint = split_fingerprint(prepared.split)
        recorded = self.record.dataset_fingerprint
        if fingerprint != recorded:
            raise UserError(
                f"the data of study {self.study_name!r} changed since it ran: {prepared.source} "
                f"now splits to fingerprint {fingerprint[:12]}, the study's is "
                f"{(recorded or '')[:12]}; restore its data to rerun its trials"
            )
        sizes = prepared.summary["images_per_split"]
        print(
            f"split of {prepared.source}: {sizes['train']:,} train / {sizes['val']:,} val "
            f"images of {prepared.summary['classes']:,} classes, the study's (fingerprint "
            f"{fingerprint[:12]})",
            file=out,
        )
        return load_dataset(prepared.data, image_size=self.image_size, split=prepared.split)


def study_run(study: optuna.Study) -> StudyRun:
    """The recorded run of ``study``; UserError when no worker has recorded it (never run)."""
    record = StudyRecord.from_study(study)
    if record.dataset_fingerprint is None or not record.space:
        raise UserError(
            f"study {study.study_name!r} has no record of a run (no trial was started by "
            "'python -m study run'): nothing to rebuild"
        )
    space = space_from_dict(record.space)
    return StudyRun(
        study_name=study.study_name,
        space=space,
        record=record,
        data=recorded_data_config(record, space),
        image_size=space.train_config(space.baseline).image_size,
    )


def recorded_data_config(record: StudyRecord, space: SearchSpace) -> DataConfig:
    """The DataConfig the study's run split: its ``data_config`` attr.

    A study recorded before that attr existed gets it rebuilt: the space's ``data`` section
    (image root, fields, cache root) with the source the run split. That is the manifest and its
    split settings (seed, val_frac, test_frac) when ``split_summary`` names one, else the train
    and val ``split_files``; a test file given to such a run was not recorded, so its split no
    longer matches the fingerprint, and :meth:`StudyRun.dataset` says so.
    """
    where = f"the study's recorded {DATA_CONFIG}"
    if record.data_config:
        return from_mapping(DataConfig, record.data_config, where)
    base = space.data_config() or DataConfig()
    summary = record.split_summary
    if summary.get("manifest"):
        return dataclasses.replace(
            base,
            manifest=str(summary["manifest"]),
            train=None,
            val=None,
            test=None,
            split_seed=int(summary.get("seed", base.split_seed)),
            val_frac=float(summary.get("val_frac", base.val_frac)),
            test_frac=float(summary.get("test_frac", base.test_frac)),
        )
    files = record.split_files
    if not files.get("train") or not files.get("val"):
        raise UserError(f"{where}: the study records neither a manifest nor split files")
    return dataclasses.replace(
        base, manifest=None, train=str(files["train"]), val=str(files["val"]), test=None
    )
