"""Rebuilding a recorded study's run: the space and data it recorded, and `train --trial`
repeating a trial's own curves exactly on a CPU (also after an interrupted, resumed run)."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from study import records
from study.cli import main
from study.rebuild import StudyRun, recorded_data_config, study_run, train_config
from study.run.runner import RunOptions, run_study
from study.single_run import TRAIN_ROOT, train_trial
from study.space.load import load_space, space_from_dict
from tests.study.helpers import storage_url, write_space
from vitlab.config import DataConfig
from vitlab.errors import UserError
from vitlab.metrics import EpochMetrics

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 3
FLOOR = {"type": "threshold", "lower": 1.0, "n_warmup_steps": 0}


@dataclass(frozen=True)
class Ran:
    folder: Path  # the study's working directory: its results/ (split, cache) are there
    url: str
    space: Path

    def study(self) -> optuna.Study:
        return optuna.load_study(study_name="tiny", storage=self.url)


@pytest.fixture(scope="module")
def ran(tmp_path_factory, tiny_manifest) -> Ran:
    """A real tiny study on one thread: the baseline (all 3 epochs) and one sampled trial,
    pruned at its first epoch by a floor no trial reaches (the baseline is never pruned)."""
    folder = tmp_path_factory.mktemp("ran")
    url = storage_url(folder)
    space = write_space(folder, trials=2, epochs=EPOCHS, wrapped=FLOOR)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        run_study(RunOptions(space=space, data=tiny_manifest, storage=url), out=io.StringIO())
    return Ran(folder, url, space)


def assert_repeats_the_trial(metrics: Path, trial: optuna.trial.FrozenTrial) -> None:
    """Every epoch of the run; the trial's epochs (fewer if it stopped early) exactly equal
    its stored curves, every metric but the timing ones."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [row["epoch"] for row in rows] == list(range(1, EPOCHS + 1))  # no pruner
    curves = trial.user_attrs[records.CURVES]
    ran = len(curves[records.EPOCH])
    assert ran >= 1 and set(curves) == set(rows[0])
    for key, values in curves.items():
        if key not in EpochMetrics.TIMING_FIELDS:
            assert [row[key] for row in rows[:ran]] == values, key


@pytest.mark.parametrize(
    ("number", "state", "epochs"),
    [(1, TrialState.PRUNED, 1), (0, TrialState.COMPLETE, EPOCHS)],
    ids=["pruned trial", "baseline"],
)
def test_train_trial_repeats_the_trials_curves_exactly(
    ran, number, state, epochs, monkeypatch, capsys
):
    monkeypatch.chdir(ran.folder)
    argv = ["train", "--study", "tiny", "--trial", str(number), "--storage", ran.url]
    assert main(argv) == 0
    run_dir = ran.folder / TRAIN_ROOT / f"tiny-trial{number}"
    trial = ran.study().trials[number]
    assert (trial.state, trial.user_attrs[records.EPOCHS_RUN]) == (state, epochs)
    assert_repeats_the_trial(run_dir / "metrics.jsonl", trial)
    assert (run_dir / "checkpoints" / "best.pt").is_file()
    assert (run_dir / "checkpoints" / "config.resolved.yaml").is_file()
    out = capsys.readouterr().out
    assert f"study 'tiny', trial {number} (" in out and f"{EPOCHS} epochs, no pruner" in out


class StopAfterFirstEpoch(io.StringIO):
    """An output that is Ctrl-C as the first epoch's line is printed (after its checkpoint)."""

    def write(self, text: str) -> int:
        if text.startswith("epoch "):
            raise KeyboardInterrupt
        return super().write(text)


def test_an_interrupted_train_trial_resumes_and_still_repeats_the_trial(ran, tmp_path, monkeypatch):
    monkeypatch.chdir(ran.folder)
    outputs = {"metrics_out": tmp_path / "m.jsonl", "checkpoint_dir": tmp_path / "ckpt"}
    with pytest.raises(KeyboardInterrupt):
        train_trial("tiny", 0, storage_url=ran.url, out=StopAfterFirstEpoch(), **outputs)
    assert len(outputs["metrics_out"].read_text().splitlines()) == 1
    out = io.StringIO()
    train_trial("tiny", 0, storage_url=ran.url, out=out, **outputs)
    assert f"resumed from {tmp_path / 'ckpt' / 'last.pt'} after epoch 1" in out.getvalue()
    assert_repeats_the_trial(outputs["metrics_out"], ran.study().trials[0])


def test_the_seed_and_epochs_flags_name_the_folder_and_are_used(ran, monkeypatch):
    monkeypatch.chdir(ran.folder)
    argv = ["train", "--study", "tiny", "--trial", "1", "--storage", ran.url]
    assert main([*argv, "--seed", "5", "--epochs", "1"]) == 0
    run_dir = ran.folder / TRAIN_ROOT / "tiny-trial1-seed5-epochs1"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1]
    resolved = (run_dir / "checkpoints" / "config.resolved.yaml").read_text()
    assert "\nseed: 5\n" in resolved and "\nepochs: 1\n" in resolved
    # Another seed trains another run: its first epoch differs from the trial's.
    assert rows[0]["train_loss"] != ran.study().trials[1].user_attrs["curves"]["train_loss"][0]


# ------------------------------------------------------------------------- the record


def test_the_study_records_the_data_config_and_rebuilds_its_space_and_data(ran, tiny_manifest):
    study = ran.study()
    assert study.user_attrs[records.DATA_CONFIG] == dataclasses.asdict(
        DataConfig(manifest=str(tiny_manifest))
    )
    rebuilt = study_run(study)
    assert rebuilt.study_name == "tiny"
    assert rebuilt.data == DataConfig(manifest=str(tiny_manifest))
    assert rebuilt.image_size == 16
    recorded = load_space(ran.space)
    assert rebuilt.space == recorded
    # The YAML edited after the run: a rebuild still trains what the study trained.
    write_space(ran.folder, trials=2, epochs=EPOCHS + 5, wrapped=FLOOR)
    assert study_run(study).space == recorded
    assert study_run(study).config(study.trials[1].params).epochs == EPOCHS
    write_space(ran.folder, trials=2, epochs=EPOCHS, wrapped=FLOOR)


def test_a_study_recorded_before_data_config_still_rebuilds(ran, tmp_path, monkeypatch):
    monkeypatch.chdir(ran.folder)  # the split files are recorded relative to it
    shutil.copy(ran.folder / "studies.db", tmp_path / "studies.db")
    old = optuna.load_study(study_name="tiny", storage=storage_url(tmp_path))
    old.set_user_attr(records.DATA_CONFIG, None)  # as a study run before the attr existed
    assert records.StudyRecord.from_study(old).data_config == {}
    assert study_run(old).data == study_run(ran.study()).data
    # Its data passes the fingerprint check, and the study's own split files are untouched.
    files = [Path(p) for p in study_run(old).record.split_files.values()]
    before = [(f.read_bytes(), f.stat().st_mtime_ns) for f in files]
    out = io.StringIO()
    dataset = study_run(old).dataset(out)
    assert dataset.fingerprint == old.user_attrs[records.DATASET_FINGERPRINT]
    assert [(f.read_bytes(), f.stat().st_mtime_ns) for f in files] == before
    assert out.getvalue().startswith("split of ")


def test_changed_data_is_one_line_error(ran, tiny_manifest, tmp_path):
    lines = tiny_manifest.read_text().splitlines()
    changed = tmp_path / "manifest.jsonl"
    changed.write_text("\n".join(lines[:-1]) + "\n")  # one image fewer
    run = study_run(ran.study())
    data = dataclasses.replace(
        run.data, manifest=str(changed), image_root=str(tiny_manifest.parent)
    )
    with pytest.raises(UserError) as info:
        dataclasses.replace(run, data=data).dataset(io.StringIO())
    fingerprint = ran.study().user_attrs[records.DATASET_FINGERPRINT]
    assert str(info.value).startswith(
        f"the data of study 'tiny' changed since it ran: {changed} now splits to fingerprint "
    )
    assert str(info.value).endswith(
        f", the study's is {fingerprint[:12]}; restore its data to rerun its trials"
    )


def test_a_study_never_run_has_nothing_to_rebuild(tmp_path):
    study = optuna.create_study(study_name="empty", storage=storage_url(tmp_path))
    with pytest.raises(UserError, match="^study 'empty' has no record of a run"):
        study_run(study)


# ------------------------------------------------------------------------- pure rebuilds


@pytest.mark.parametrize("name", ["demo.yaml", "vit_regularization.yaml", "tiny"])
def test_a_space_reads_back_from_its_record(name, tmp_path):
    path = write_space(tmp_path) if name == "tiny" else REPO / "search_spaces" / name
    space = load_space(path)
    # Through JSON, as the study's user attr stores it.
    assert space_from_dict(json.loads(json.dumps(space.as_dict()))) == space


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"seed": 3}, {"seed": 3, "epochs": 3, "device": "cpu"}),
        ({"seed": 0, "epochs": 7}, {"seed": 0, "epochs": 7, "device": "cpu"}),
        ({"seed": 1, "device": "cuda:1"}, {"seed": 1, "epochs": 3, "device": "cuda:1"}),
        ({"seed": 1, "device": None, "epochs": None}, {"seed": 1, "epochs": 3, "device": "cpu"}),
    ],
)
def test_train_config_replaces_only_what_is_given(tmp_path, changes, expected):
    space = load_space(write_space(tmp_path, epochs=3))
    params = {"weight_decay": 0.1, "drop_rate": 0.2, "min_images": 3}
    config = train_config(space, params, **changes)
    assert {key: getattr(config, key) for key in expected} == expected
    assert (config.weight_decay, config.drop_rate, config.min_images) == (0.1, 0.2, 3)
    base = space.train_config(params)
    assert dataclasses.replace(config, **expected) == dataclasses.replace(base, **expected)


def test_train_config_takes_the_data_and_refuses_bad_epochs(tmp_path):
    space = load_space(write_space(tmp_path))
    data = DataConfig(manifest="m.jsonl", cache_root="c")
    assert train_config(space, space.baseline, seed=0, data=data).data == data
    with pytest.raises(ValueError, match="epochs"):
        train_config(space, space.baseline, seed=0, epochs=0)


SUMMARY = {"classes": 3, "manifest": "/d/m.jsonl", "seed": 4, "val_frac": 0.2, "test_frac": 0.0}
FILES = {"train": "/s/train.jsonl", "val": "/s/val.jsonl"}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {"data_config": {"manifest": "/d/m.jsonl", "split_seed": 2, "cache_root": "x"}},
            DataConfig(manifest="/d/m.jsonl", split_seed=2, cache_root="x"),
        ),
        (  # before data_config: the manifest and its split settings, the space's other keys
            {"split_summary": SUMMARY, "split_files": FILES},
            DataConfig(
                manifest="/d/m.jsonl", split_seed=4, val_frac=0.2, test_frac=0.0, cache_root="c"
            ),
        ),
        (  # split files given to the run: they are the source
            {"split_summary": {"classes": 3}, "split_files": FILES},
            DataConfig(train="/s/train.jsonl", val="/s/val.jsonl", cache_root="c"),
        ),
    ],
    ids=["recorded", "old, manifest", "old, split files"],
)
def test_the_recorded_data_config(tmp_path, record, expected):
    space = dataclasses.replace(load_space(write_space(tmp_path)), data={"cache_root": "c"})
    assert recorded_data_config(records.StudyRecord(**record), space) == expected


def test_a_record_without_data_is_one_line_error(tmp_path):
    space = load_space(write_space(tmp_path))
    with pytest.raises(UserError, match="records neither a manifest nor split files"):
        recorded_data_config(records.StudyRecord(split_summary={"classes": 3}), space)


def test_a_study_run_defaults_to_the_studys_seed(tmp_path):
    space = load_space(write_space(tmp_path))
    run = StudyRun("s", space, records.StudyRecord(train_seed=9), DataConfig(), 16)
    assert run.config(space.baseline).seed == 9
    assert run.config(space.baseline, seed=2, epochs=1).seed == 2
