"""The seed's phenomenon on the demo dataset, and what the seed's fix list does to it.

    python benchmarks/bench_overfitting.py [--epochs 20] [--seeds 3] [--threads 2]

Both arms are built from the demo search space (search_spaces/demo.yaml: its fixed settings,
model presets, pretrained weights and augmentation ladder), fine-tuned from the committed demo
weights as the seed fine-tuned, on the same stratified split, each with training seeds 0..S-1:
- "no regularization": the bigger ViT (vit_mini, 0.48M parameters for ~2,450 training images),
  no weight decay, no label smoothing, no dropout, no augmentation;
- "fix list": the seed's fixes at once: the smaller ViT (vit_micro, 0.12M), weight decay 0.05,
  label smoothing 0.2, dropout 0.3 on the head, augmentation 0.5 (the seed's point on the ladder:
  crop, flip, colour jitter 0.4, erasing 0.25).
The demo labels are noisy (20 % drawn uniformly from the species list, see vitlab.demo), so a
model that memorises its training labels learns noise: that is what makes overfitting cost val
accuracy here, as in the seed's data.

Checks (exit status 1 if one fails), on the mean over seeds:
- no regularization overfits: final train top-1 - val top-1 >= 0.20, and val loss ends above
  its minimum by more than 0.05 (it rises);
- the fix list narrows the final gap and raises the final val top-1: both arms scored at their
  last epoch, as the seed's fixed 15-epoch run was.
It also prints, without checking it, each arm's best val top-1 over its epochs: what early
stopping (the last item on the fix list) would keep. Per-seed values are printed so the spread
is visible next to the differences.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

from study.space.load import load_space
from vitlab.config import DataConfig, TrainConfig
from vitlab.demo import DEMO_ROOT, make_demo_dataset
from vitlab.metrics import EpochMetrics
from vitlab.train import Trainer

SPACE = Path("search_spaces/demo.yaml")
ARMS: dict[str, dict] = {
    "no regularization": dict(
        model="vit_mini", weight_decay=0.0, label_smoothing=0.0, drop_rate=0.0, aug_strength=0.0
    ),
    "fix list": dict(
        model="vit_micro", weight_decay=0.05, label_smoothing=0.2, drop_rate=0.3, aug_strength=0.5
    ),
}


def arm_configs(epochs: int, seeds: int, threads: int | None) -> dict[str, list[TrainConfig]]:
    """Each arm's TrainConfig per training seed, from the demo space."""
    space = load_space(SPACE)
    data = DataConfig(manifest=str(make_demo_dataset(DEMO_ROOT, progress=False)))
    out = {}
    for name, params in ARMS.items():
        config = space.train_config(
            {**space.baseline, **params, "pretrained": "demo", "min_images": 1}, data
        )
        config = dataclasses.replace(config, epochs=epochs, threads=threads, device="cpu")
        out[name] = [dataclasses.replace(config, seed=s) for s in range(seeds)]
    return out


@dataclasses.dataclass(frozen=True)
class RunSummary:
    final_val_top1: float
    best_val_top1: float  # at the best epoch: what early stopping keeps
    final_gap: float
    val_loss_rise: float  # final val loss - its minimum

    @classmethod
    def of(cls, curve: list[EpochMetrics]) -> RunSummary:
        return cls(
            final_val_top1=curve[-1].val_top1,
            best_val_top1=max(m.val_top1 for m in curve),
            final_gap=curve[-1].gap,
            val_loss_rise=curve[-1].val_loss - min(m.val_loss for m in curve),
        )


def check(runs: dict[str, list[RunSummary]]) -> list[tuple[str, bool]]:
    """The phenomenon and the fix, on per-arm means."""

    def mean(arm: str, field: str) -> float:
        return statistics.fmean(getattr(r, field) for r in runs[arm])

    gap0, gap1 = mean("no regularization", "final_gap"), mean("fix list", "final_gap")
    rise = mean("no regularization", "val_loss_rise")
    top0, top1 = mean("no regularization", "final_val_top1"), mean("fix list", "final_val_top1")
    return [
        (f"no regularization overfits: final gap {gap0:.3f} >= 0.20", gap0 >= 0.20),
        (f"no regularization: val loss rises {rise:.3f} above its minimum (> 0.05)", rise > 0.05),
        (f"the fix list narrows the gap: {gap1:.3f} < {gap0:.3f}", gap1 < gap0),
        (
            f"the fix list improves final val top-1: {top1:.3f} > {top0:.3f} "
            f"({100 * (top1 - top0):+.1f} points)",
            top1 > top0,
        ),
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seeds", type=int, default=3, help="training seeds per arm")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (1 beside other work)")
    p.add_argument("--out", type=Path, default=Path("results/bench_overfitting.json"))
    args = p.parse_args()
    curves: dict[str, list[list[EpochMetrics]]] = {}
    for name, configs in arm_configs(args.epochs, args.seeds, args.threads).items():
        curves[name] = []
        for config in configs:
            trainer = Trainer(config, progress=False)
            print(
                f"== {name}, seed {config.seed}: {trainer.num_params:,} parameters, "
                f"{len(trainer.train_part):,} train / {len(trainer.dataset.val):,} val images",
                flush=True,
            )
            print(f"{'epoch':>5} {'train top1':>10} {'val loss':>9} {'val top1':>9} {'gap':>7}")
            curve = []
            for m in trainer.fit():
                curve.append(m)
                print(
                    f"{m.epoch:>5} {m.train_top1:>10.3f} {m.val_loss:>9.3f} {m.val_top1:>9.3f} "
                    f"{m.gap:>+7.3f}",
                    flush=True,
                )
            curves[name].append(curve)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({k: [[m.as_dict() for m in c] for c in v] for k, v in curves.items()})
    )
    runs = {name: [RunSummary.of(c) for c in cs] for name, cs in curves.items()}
    print(
        f"\n{'arm':>18} {'seed':>4} {'final val top1':>14} {'best val top1':>13} "
        f"{'final gap':>9} {'val loss rise':>13}"
    )
    for name, rs in runs.items():
        for seed, r in enumerate(rs):
            print(
                f"{name:>18} {seed:>4} {r.final_val_top1:>14.3f} {r.best_val_top1:>13.3f} "
                f"{r.final_gap:>9.3f} {r.val_loss_rise:>13.3f}"
            )
    best = {k: statistics.fmean(r.best_val_top1 for r in rs) for k, rs in runs.items()}
    print(
        f"with early stopping (best epoch, not checked): fix list {best['fix list']:.3f}, "
        f"no regularization {best['no regularization']:.3f} "
        f"({100 * (best['fix list'] - best['no regularization']):+.1f} points)"
    )
    results = check(runs)
    for text, ok in results:
        print(f"[{'ok' if ok else 'FAIL'}] {text}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
