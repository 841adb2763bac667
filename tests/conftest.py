"""Shared fixtures: a tiny real image dataset and tiny timm ViTs, so tests run on 2 CPU cores."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

from tests.helpers import TINY_VIT
from vitlab.config import DataConfig, TrainConfig
from vitlab.demo import DemoSpec, make_demo_dataset

# Clean labels: the engine's tests check mechanics, not the demo's label noise.
TINY_DEMO = DemoSpec(num_classes=24, max_images=30, mean_images=8.0, label_noise=0.0)


@pytest.fixture(autouse=True)
def _one_thread():
    # Tests run beside each other and beside other work: oversubscribed BLAS threads on 2
    # cores slow a step 10x and make timings meaningless; results do not depend on it.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def python_sigint():
    """Python's own Ctrl-C handler for the duration of a test (see default_sigint)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 long-tailed classes of real 40x40 PNG files, with a JSONL manifest."""
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", TINY_DEMO, progress=False)


# A tiny disjoint pretraining set: the demo's shapes and textures in other colours, 12 classes.
TINY_PRETRAIN = DemoSpec(
    num_classes=12,
    max_images=20,
    mean_images=10.0,
    singleton_fraction=0.0,
    hue_offset=0.07,
    seed=1,
    label_noise=0.0,
)


@pytest.fixture(scope="session")
def pretrain_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_dataset(tmp_path_factory.mktemp("pre") / "pre", TINY_PRETRAIN, progress=False)


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def tiny_config(tiny_manifest: Path, cache_root: Path) -> TrainConfig:
    return TrainConfig(
        data=DataConfig(manifest=str(tiny_manifest), cache_root=str(cache_root)),
        model="vit_tiny_patch16_224",
        model_kwargs=TINY_VIT,
        image_size=16,
        epochs=2,
        batch_size=32,
        lr=2e-3,
        warmup_epochs=0.5,
        train_eval_images=64,
        device="cpu",
    )
