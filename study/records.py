"""What a trial and a study record in storage: the one definition every writer and reader shares.

Trial user attrs (written by the objective as a trial runs, read by progress, the notes, the
pruners and the reports) and study user attrs (written once by the runner) are named here and
nowhere else.
"""

from __future__ import annotations

# -- trial user attrs -------------------------------------------------------------------------
BASELINE = "baseline"  # True on the seed's recipe, the trial every effect is read against
CURVES = "curves"  # metric name -> one value per finished epoch (EpochMetrics' fields)
SEED = "seed"
DEVICE = "device"
NUM_PARAMS = "num_params"
PRETRAINED = "pretrained"  # the resolved weights file (None: from scratch)
EPOCHS_PLANNED = "epochs_planned"
CLASS_COVERAGE = "class_coverage"
EPOCHS_RUN = "epochs_run"
SECONDS = "seconds"
IMAGES_PER_SECOND = "images_per_second"
BEST_EPOCH = "best_epoch"
BEST = "best"  # the best epoch's metrics
BEST_PREFIX = "best_"  # flat copies of the headline numbers, as trials_dataframe() columns
PRUNE_REASON = "prune_reason"  # the stop decision's text
STOP_KIND = "stop_kind"  # the stop decision's kind: overfitting, floor, median, ...
STOPPED_EARLY = "stopped_early"
ENDED = "ended"  # how the trial ended, in one line
ERROR = "error"
ARTIFACT_ERROR = "artifact_error"

# -- study user attrs -------------------------------------------------------------------------
DATASET_FINGERPRINT = "dataset_fingerprint"
DATA_SOURCE = "data_source"
SPLIT_SUMMARY = "split_summary"
SPACE = "space"
ROLES = "roles"
BASELINE_PARAMS = "baseline"  # the baseline's parameters (a dict; a trial's BASELINE is a flag)
TRAIN_SEED = "train_seed"
VERSIONS = "versions"
TRAIN_COUNTS = "train_counts"
CLASSES = "classes"
