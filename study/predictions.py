"""Each trial's val predictions at its best epoch: one small ``.npy`` artifact per trial.

The file holds a (2, val images) integer array: the label of every val image, then its top-1
class (``vitlab.scoring.DROPPED``, -1, where the top-1 was the image's own class but one the
trial did not train on: an error). int16 while the classes fit (the seed's 12,639 val images:
50 KB), else int32. The labels travel with the predictions so that a file is read on its own,
on any machine, in the order the trial scored its images. The trial's user attr
``records.PREDICTIONS`` names the artifact; the report reads the files of the few trials it
compares (:func:`study.analysis.inputs.prediction_trials`).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import optuna
from optuna.artifacts import upload_artifact

from study import records

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore  # a Protocol Optuna does not export


def encode(predictions: np.ndarray) -> bytes:
    """The ``.npy`` bytes of a (2, n) labels/top-1 array, in the smallest dtype that holds it."""
    array = np.asarray(predictions)
    if array.ndim != 2 or array.shape[0] != 2:
        raise ValueError(f"predictions must be a (2, n) array, got shape {array.shape}")
    small = array.size == 0 or int(array.max()) <= np.iinfo(np.int16).max
    buffer = io.BytesIO()
    np.save(buffer, array.astype(np.int16 if small else np.int32), allow_pickle=False)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    """The (2, n) int64 array of an :func:`encode`-d file; ValueError if it is not one."""
    array = np.load(io.BytesIO(data), allow_pickle=False)
    if array.ndim != 2 or array.shape[0] != 2 or array.dtype.kind != "i":
        raise ValueError(f"not a predictions file: {array.dtype} array of shape {array.shape}")
    return array.astype(np.int64)


def upload(
    trial: optuna.Trial,
    store: ArtifactStore,
    predictions: np.ndarray,
    *,
    attr: str = records.PREDICTIONS,
    file_name: str = records.PREDICTIONS_FILE,
) -> str:
    """Upload the trial's predictions file and record its id in user attr ``attr`` (the val
    predictions' by default; a confirmation run's test predictions have their own)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / file_name
        path.write_bytes(encode(predictions))
        artifact_id = upload_artifact(
            artifact_store=store,
            file_path=str(path),
            study_or_trial=trial,
            mimetype="application/octet-stream",
        )
    trial.set_user_attr(attr, artifact_id)
    return artifact_id


def download(store: ArtifactStore, artifact_id: str) -> np.ndarray:
    """The (2, n) array of the predictions artifact ``artifact_id``."""
    with store.open_reader(artifact_id) as reader:
        return decode(reader.read())
