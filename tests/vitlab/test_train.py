"""The training engine on real image files and real tiny timm ViTs."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vitlab.checkpoint import CHECKPOINT_VERSION, check_plain, save
from vitlab.config import TrainConfig
from vitlab.dataset import load_dataset
from vitlab.errors import UserError
from vitlab.metrics import EpochMetrics
from vitlab.train import Trainer, TrainingError


def without_timing(history: list[EpochMetrics]) -> list[dict]:
    return [
        {k: v for k, v in m.as_dict().items() if k not in EpochMetrics.TIMING_FIELDS}
        for m in history
    ]


def run(config: TrainConfig, **kwargs) -> list[EpochMetrics]:
    return list(Trainer(config, progress=False, **kwargs).fit())


def test_the_best_epochs_val_predictions_are_kept(tiny_config):
    trainer = Trainer(tiny_config, progress=False)
    history = list(trainer.fit())
    best = trainer.best()
    assert trainer.best_predictions is not None and best is not None
    labels, predicted = trainer.best_predictions
    assert labels.tolist() == trainer.dataset.val.labels.tolist()
    assert (predicted == labels).mean() == pytest.approx(best.val_top1)
    assert len(history) == 2


def test_score_best_scores_with_the_best_epochs_weights(tiny_config):
    trainer = Trainer(tiny_config, progress=False, keep_best=True)
    list(trainer.fit())
    best = trainer.best()
    assert best is not None
    with torch.no_grad():  # the model as it ends is not what gets scored: spoil it
        for p in trainer.model.parameters():
            p.add_(torch.randn_like(p))
    # val scored again with the kept weights is exactly the best epoch's val
    again = trainer.score_best(trainer.dataset.val)
    assert (again.top1, again.loss) == pytest.approx((best.val_top1, best.val_loss))
    assert len(trainer.score_best(trainer.dataset.test).labels) == len(trainer.dataset.test)


def test_score_best_needs_keep_best(tiny_config):
    trainer = Trainer(tiny_config, progress=False)
    list(trainer.fit())
    with pytest.raises(TrainingError, match="keep_best=True"):
        trainer.score_best(trainer.dataset.test)


def test_metrics_fields_present_and_sane(tiny_config):
    history = run(tiny_config)
    assert [m.epoch for m in history] == [1, 2]
    for m in history:
        d = m.as_dict()
        assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in d.values())
        for key in ("train_top1", "val_top1", "val_top5", "val_top1_kept", "class_coverage"):
            assert 0.0 <= d[key] <= 1.0, key
        assert m.val_top1 <= m.val_top5
        assert m.gap == pytest.approx(m.train_top1 - m.val_top1_kept)
        assert m.train_loss > 0 and m.val_loss > 0 and m.lr > 0
        assert m.epoch_seconds > 0 and m.images_per_second > 0
        assert m.per_class is not None and m.per_class.total.sum() == len(
            load_dataset(tiny_config.data, image_size=16, progress=False).val
        )
    # It learns: the loss falls below the uniform-guess loss ln(24).
    assert history[-1].val_loss < math.log(24)


def test_same_config_and_seed_give_identical_metrics(tiny_config):
    config = dataclasses.replace(
        tiny_config, aug_strength=0.7, drop_rate=0.2, drop_path_rate=0.1, label_smoothing=0.1
    )
    first, second = run(config), run(config)
    assert without_timing(first) == without_timing(second)
    other = run(dataclasses.replace(config, seed=1))
    assert without_timing(other) != without_timing(first)


def test_resume_gives_the_same_final_metrics(tiny_config, tmp_path):
    config = dataclasses.replace(tiny_config, epochs=3, aug_strength=0.5, drop_rate=0.1)
    uninterrupted = run(config)
    ckpt = tmp_path / "ckpt"
    first_epoch = next(Trainer(config, checkpoint_dir=ckpt, progress=False).fit())
    assert first_epoch.epoch == 1 and (ckpt / "last.pt").exists() and (ckpt / "best.pt").exists()
    resumed = Trainer(config, checkpoint_dir=ckpt, progress=False)  # a new process, in effect
    assert resumed.start_epoch == 1
    rest = list(resumed.fit())
    assert [m.epoch for m in rest] == [2, 3]
    assert without_timing(resumed.history) == without_timing(uninterrupted)


def test_resume_refuses_another_configuration(tiny_config, tmp_path):
    next(Trainer(tiny_config, checkpoint_dir=tmp_path, progress=False).fit())
    with pytest.raises(TrainingError, match="another configuration"):
        Trainer(dataclasses.replace(tiny_config, lr=0.1), checkpoint_dir=tmp_path, progress=False)


class CreatesAFile:
    """A real pickle payload: unpickling it calls ``open(marker, "w")``, which creates a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def truncated(path: Path) -> None:
    torch.save({"version": CHECKPOINT_VERSION, "model": {"w": torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("write", "problem"),
    [
        (
            lambda p: torch.save(
                {"version": CHECKPOINT_VERSION, "config": CreatesAFile(p.with_name("pwned"))}, p
            ),
            "not plain tensors and numbers, so it was not loaded",
        ),
        (lambda p: p.write_bytes(b""), "damaged or not a checkpoint: EOFError"),
        (truncated, "damaged or not a checkpoint: RuntimeError"),
        (lambda p: p.write_text("not a checkpoint\n"), "not plain tensors and numbers"),
        (lambda p: torch.save(torch.zeros(3), p), "not a checkpoint of this program"),
        (lambda p: torch.save({"version": 0, "config": {}}, p), "checkpoint format 0, this"),
        (lambda p: torch.save({"version": CHECKPOINT_VERSION}, p), "no config, epochs_done"),
    ],
    ids=[
        "crafted pickle",
        "zero bytes",
        "truncated",
        "foreign text",
        "a bare tensor",
        "old",
        "keys",
    ],
)
def test_an_unusable_last_pt_runs_no_code_and_says_delete_it(tiny_config, tmp_path, write, problem):
    last = tmp_path / "last.pt"
    write(last)
    with pytest.raises(UserError) as info:
        Trainer(tiny_config, checkpoint_dir=tmp_path, progress=False)
    message = str(info.value)
    assert message.startswith(f"{last}: cannot resume from it (") and "\n" not in message
    assert problem in message and message.endswith("; delete it to start over")
    assert not (tmp_path / "pwned").exists()


def test_checkpoints_hold_only_plain_data(tiny_config, tmp_path):
    config = dataclasses.replace(tiny_config, epochs=1, layer_decay=0.75, grad_clip=1.0)
    list(Trainer(config, checkpoint_dir=tmp_path, progress=False).fit())
    for name in ("last.pt", "best.pt"):
        check_plain(torch.load(tmp_path / name, map_location="cpu", weights_only=True), name)
    with pytest.raises(TypeError, match=r"checkpoint\['where'\] is a PosixPath"):
        save({"where": tmp_path}, tmp_path / "other.pt")


@pytest.mark.parametrize("min_images", [3, 8])
def test_dropped_classes_count_as_errors(tiny_config, min_images):
    config = dataclasses.replace(tiny_config, min_images=min_images, epochs=1)
    trainer = Trainer(config, progress=False)
    m = next(trainer.fit())
    dataset, kept = trainer.dataset, trainer.kept.numpy()
    assert 0 < kept.sum() < dataset.num_classes  # the filter drops some classes, not all
    assert set(trainer.train_part.labels) <= set(np.flatnonzero(kept))
    # ...and it trains on every train image of the kept classes (Dataset.kept_train's rule).
    assert len(trainer.train_part) == kept[dataset.train.labels].sum()
    # Every val image is scored; the dropped classes' ones are never correct.
    assert m.per_class.total.sum() == len(dataset.val)
    assert m.per_class.correct[~kept].sum() == 0
    n_kept = m.per_class.total[kept].sum()
    assert m.val_top1 * len(dataset.val) == pytest.approx(m.val_top1_kept * n_kept)
    assert m.class_coverage == pytest.approx(kept.mean())


def test_nan_loss_stops_with_a_reason(tiny_config, monkeypatch):
    monkeypatch.setattr(Trainer, "_step", lambda self, *a: torch.tensor(float("nan")))
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1, step 1"):
        run(tiny_config)


def test_out_of_memory_names_batch_size_and_model(tiny_config, monkeypatch):
    def oom(self, *args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(Trainer, "_step", oom)
    with pytest.raises(TrainingError, match=r"batch_size=32 and model vit_tiny_patch16_224"):
        run(tiny_config)


def test_train_top1_is_measured_without_augmentation(tiny_config):
    # The probe is un-augmented: with all training randomness removed from it, two trainers that
    # differ only in augmentation strength measure the same probe before any update.
    a = Trainer(dataclasses.replace(tiny_config, aug_strength=0.0), progress=False)
    b = Trainer(dataclasses.replace(tiny_config, aug_strength=1.0), progress=False)
    first, second = a._evaluate(a.probe_part), b._evaluate(b.probe_part)
    assert (first.loss, first.top1) == (second.loss, second.top1)


def test_pretrained_weights_from_a_local_file(tiny_config, tmp_path):
    trainer = Trainer(tiny_config, progress=False, checkpoint_dir=tmp_path / "run")
    list(trainer.fit())
    weights = tmp_path / "run" / "best.pt"
    tuned = Trainer(dataclasses.replace(tiny_config, pretrained=str(weights)), progress=False)
    saved = torch.load(weights, map_location="cpu", weights_only=True)["model"]
    for name, tensor in tuned.model.state_dict().items():
        assert torch.equal(tensor, saved[name]), name


def test_cuda_asked_for_without_a_gpu_is_a_clear_error(tiny_config):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(UserError, match="no CUDA GPU"):
        Trainer(dataclasses.replace(tiny_config, device="cuda"), progress=False)


def test_resume_refuses_a_checkpoint_of_other_classes(tiny_config, tiny_manifest, tmp_path):
    """Same configuration and as many classes, other names: the head's rows mean other species."""
    manifest = tmp_path / "manifest.jsonl"
    lines = tiny_manifest.read_text().splitlines()
    manifest.write_text("\n".join(lines) + "\n")
    data = dataclasses.replace(
        tiny_config.data, manifest=str(manifest), image_root=str(tiny_manifest.parent)
    )
    config = dataclasses.replace(tiny_config, data=data, epochs=2)
    trainer = Trainer(config, checkpoint_dir=tmp_path / "ckpt", progress=False)
    next(trainer.fit())  # one epoch: last.pt holds this dataset's classes
    renamed = [json.loads(line) for line in lines]
    for record in renamed:
        record["label"] = f"renamed {record['label']}"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in renamed))
    with pytest.raises(UserError) as info:
        Trainer(config, checkpoint_dir=tmp_path / "ckpt", progress=False)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'ckpt' / 'last.pt'}: cannot resume from it (")
    assert "other classes" in message and "\n" not in message
