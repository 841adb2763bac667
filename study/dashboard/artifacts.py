"""The study's plotly.js artifact, uploaded once per study and plotly.js version.

plotly.js (about 4.8 MB) is one study artifact; each trial's ``curves.html`` (tens of KB) loads it
from the dashboard's ``/artifacts/<study_id>/<artifact_id>``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.artifacts import upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.storages import BaseStorage
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from study import records

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore  # a Protocol Optuna does not export

PLOTLYJS_ATTR = records.PLOTLYJS  # the study user attr that names the study's plotly.js file
OPTUNA_ARTIFACT_PREFIX = "artifacts:"  # Optuna's study system attr per study artifact: its meta


def study_artifacts(storage: BaseStorage, study_id: int) -> dict[str, dict[str, Any]]:
    """The study's artifacts (not its trials'), by id; one the dashboard deleted is left out."""
    metas = {}
    for key, value in storage.get_study_system_attrs(study_id).items():
        if key.startswith(OPTUNA_ARTIFACT_PREFIX):
            meta = json.loads(value)
            if meta is not None:  # optuna-dashboard nulls the meta of an artifact it deletes
                metas[meta["artifact_id"]] = meta
    return metas


def _stored(store: ArtifactStore, artifact_id: str) -> bool:
    try:
        store.open_reader(artifact_id).close()
    except ArtifactNotFound:
        return False
    return True


def plotlyjs_src(study: optuna.Study, storage: BaseStorage, store: ArtifactStore) -> str:
    """The dashboard's URL path of the study's plotly.js, uploaded first if the study has none.

    The study user attr ``plotlyjs_artifact`` names it: recorded only once its file is written,
    it is trusted while its version matches and the dashboard has not deleted it. Else a stored
    one of this version is looked up by its file name (a worker of another plotly version may
    have taken the attr), and only then is one uploaded. Workers racing on a new study may each
    upload one: harmless, they are all the same file.
    """
    version = get_plotlyjs_version()
    filename = f"plotly-{version}.min.js"
    study_id = storage.get_study_id_from_name(study.study_name)
    live = study_artifacts(storage, study_id)
    record = study.user_attrs.get(PLOTLYJS_ATTR) or {}
    artifact_id = record.get("id")
    if record.get("version") != version or artifact_id not in live:
        same = [i for i, m in live.items() if m.get("filename") == filename]
        # The meta is written before the file: one whose upload failed has no file.
        artifact_id = next((i for i in same if _stored(store, i)), None)
        if artifact_id is None:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / filename
                path.write_text(get_plotlyjs(), encoding="utf-8")
                artifact_id = upload_artifact(
                    artifact_store=store,
                    file_path=str(path),
                    study_or_trial=study,
                    mimetype="text/javascript",
                )
        study.set_user_attr(PLOTLYJS_ATTR, {"id": artifact_id, "version": version})
    return f"/artifacts/{study_id}/{artifact_id}"
