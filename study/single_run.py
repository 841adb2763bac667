"""``python -m study train``: one configuration, trained and recorded epoch by epoch."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TextIO

from study.data import with_demo_data
from vitlab.config import TrainConfig, dump_yaml, load_train_config
from vitlab.metrics import EpochMetrics

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
    out: TextIO = sys.stdout,
) -> EpochMetrics | None:
    """Train one configuration, resuming from ``checkpoint_dir/last.pt`` when it exists.

    Each epoch is printed and appended to ``metrics_out`` as it finishes, so an error or Ctrl-C
    loses nothing that was measured. Returns the best epoch.
    """
    overrides = {"device": device} if device else None
    config = with_default_data(load_train_config(config_path, overrides), out)
    run_dir = TRAIN_ROOT / config_path.stem
    metrics_out = metrics_out or run_dir / "metrics.jsonl"
    checkpoint_dir = checkpoint_dir or run_dir / "checkpoints"
    # torch loads when training starts, not when the command line reads this module's defaults.
    from vitlab.train import Trainer, append_jsonl

    # The Trainer refuses a last.pt of another configuration: nothing is written before that.
    trainer = Trainer(config, checkpoint_dir=checkpoint_dir)
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
