"""Local pretrained weights, made offline: train on other classes, keep the best epoch's weights.

Pretrained features matter more than any regularizer on small data (Steiner et al. 2021), so a
study must be able to sweep ``pretrained``. Nothing can be downloaded here, so the demo makes its
own: a ViT trained on :data:`PRETRAIN_SPEC`, 200 classes that share the demo's shapes and
textures but none of its colours (every hue band moved by half the band spacing), so no demo
class, image or label is seen in pretraining. The file is our ``best.pt`` format, which
:func:`vitlab.models.create_model` loads with a new head for the target's classes.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from vitlab.config import DataConfig, TrainConfig
from vitlab.demo import DemoSpec, make_demo_dataset
from vitlab.metrics import EpochMetrics

PRETRAIN_ROOT = Path("data/demo_pretrain")
# About 5,900 images, no singletons, clean labels: pretraining data is plentiful and curated by
# design, as ImageNet is next to a crowd-sourced species set.
PRETRAIN_SPEC = DemoSpec(
    seed=1,
    hue_offset=0.07,
    singleton_fraction=0.0,
    mean_images=50.0,
    max_images=120,
    label_noise=0.0,
)


def pretrain_manifest(root: Path = PRETRAIN_ROOT, spec: DemoSpec = PRETRAIN_SPEC) -> Path:
    return make_demo_dataset(root, spec, progress=False)


def pretrain(
    config: TrainConfig, out: Path, *, work_dir: Path | None = None
) -> Iterator[EpochMetrics]:
    """Train ``config`` (resumable), yield each epoch, then write the best weights to ``out``.

    ``out`` appears only when training has finished, so a file that exists is always complete.
    """
    work_dir = work_dir or out.with_name(f".{out.stem}-checkpoints")
    # torch loads when pretraining starts, not when the command line reads this module's defaults.
    from vitlab.train import Trainer

    trainer = Trainer(config, checkpoint_dir=work_dir, progress=False)
    yield from trainer.fit()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.copyfile(work_dir / "best.pt", tmp)
    tmp.replace(out)
    shutil.rmtree(work_dir)


def pretrain_config(base: TrainConfig, manifest: Path, epochs: int) -> TrainConfig:
    """``base`` (the target's model and fixed settings) on the pretraining data, from scratch."""
    return dataclasses.replace(
        base,
        data=DataConfig(manifest=str(manifest), cache_root=base.data.cache_root),
        pretrained=None,
        epochs=epochs,
        min_images=1,
    )
