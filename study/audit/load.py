"""The pruner audit as the report reads it: the linked study ``<study>:audit``'s sample and each
finished rerun's full curve."""

from __future__ import annotations

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from study import records
from study.ablate.runs import KEY, linked_name
from study.analysis.inputs import AuditRun, AuditRuns

__all__ = ["SAMPLE_ATTR", "SUFFIX", "load_audit"]

SUFFIX = ":audit"  # the linked study <study>:audit holds the reruns
SAMPLE_ATTR = "audit_sample"  # linked study attr: [{"trial", "kind", "key"}] as sampled


def load_audit(study_name: str, storage: BaseStorage) -> AuditRuns | None:
    """The audit of ``study_name`` (None: ``audit-pruner`` never ran for it)."""
    name = linked_name(study_name, SUFFIX)
    if name not in {s.study_name for s in storage.get_all_studies()}:
        return None
    linked = optuna.load_study(study_name=name, storage=storage)
    sample = list(linked.user_attrs.get(SAMPLE_ATTR) or [])
    by_key = {}
    for t in linked.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = t.user_attrs.get(KEY)
        if key is not None and t.value is not None:
            by_key.setdefault(str(key), t)
    runs = []
    for s in sample:
        t = by_key.get(str(s["key"]))
        if t is None:
            continue
        curve = (t.user_attrs.get(records.CURVES) or {}).get(records.VAL_TOP1) or []
        runs.append(
            AuditRun(
                trial=int(s["trial"]),
                value=float(t.value or 0.0),
                val_top1=tuple(float(v) for v in curve),
                seconds=float(t.user_attrs.get(records.SECONDS) or 0.0),
            )
        )
    return AuditRuns(sample=tuple(int(s["trial"]) for s in sample), runs=tuple(runs))
