"""The seed's phenomenon on the demo dataset, and what the seed's fix list does to it.

    python benchmarks/bench_overfitting.py [--epochs 20] [--out results/bench_overfitting.json]
    python benchmarks/bench_overfitting.py --scratch --epochs 40   # the from-scratch regime

Runs on the full demo dataset (the same stratified split, the same seed), each scored at its
best epoch (early stopping) and printed epoch by epoch. By default both arms fine-tune the demo's
pretrained ViT (dim 96, depth 4; search_spaces/weights/demo_vit_mini.pt, made by
``python -m study pretrain`` on 200 classes disjoint from the demo's), as the seed fine-tuned:
- "no regularization": no weight decay, no label smoothing, no dropout, no augmentation;
- "regularized": the seed's fixes: weight decay 0.05, label smoothing 0.2, dropout 0.3 on the
  head, and augmentation strength 0.25 (crop, flip, colour jitter 0.2, erasing 0.125);
- with --all, also "fix list": every fix at once, including the smaller model (dim 64, depth 2,
  its own pretrained weights) and augmentation 0.5 (the seed's crop, flip, jitter 0.4, erasing
  0.25).
With --scratch, the arms start from random weights with a bigger ViT (dim 128, depth 6: ~1.2M
parameters for ~2,400 training images): the underfitting regime, where within a CPU budget the
fixes cost accuracy (ROADMAP section 3).

It checks the phenomenon: with no regularization, train top-1 ends far above val top-1 and val
loss rises above its minimum; regularized, the gap is smaller and the best val top-1 higher.
Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from vitlab.config import DataConfig, TrainConfig
from vitlab.demo import DEMO_ROOT, make_demo_dataset
from vitlab.train import EpochMetrics, Trainer

BIG = {"patch_size": 4, "depth": 6, "embed_dim": 128, "num_heads": 4}
SMALL = {"patch_size": 4, "depth": 4, "embed_dim": 96, "num_heads": 3}
# The demo space's presets and their pretrained weights (python -m study pretrain).
MINI = {"patch_size": 4, "depth": 4, "embed_dim": 96, "num_heads": 3}
MICRO = {"patch_size": 4, "depth": 2, "embed_dim": 64, "num_heads": 2}
WEIGHTS = Path("search_spaces/weights")


def recipes(
    epochs: int, data: DataConfig, threads: int | None, scratch: bool = False
) -> dict[str, TrainConfig]:
    common = dict(
        data=data,
        model="vit_tiny_patch16_224",
        image_size=32,
        epochs=epochs,
        batch_size=16,  # many small steps: a ViT from scratch fits ~3x faster per epoch
        lr=1e-3,
        warmup_epochs=2,
        train_eval_images=512,
        device="auto",
        threads=threads,
    )
    if scratch:
        large, small = {"model_kwargs": BIG}, {"model_kwargs": SMALL}
    else:
        large = {"model_kwargs": MINI, "pretrained": str(WEIGHTS / "demo_vit_mini.pt")}
        small = {"model_kwargs": MICRO, "pretrained": str(WEIGHTS / "demo_vit_micro.pt")}
    return {
        "no regularization": TrainConfig(
            **common,
            **large,
            weight_decay=0.0,
            label_smoothing=0.0,
            drop_rate=0.0,
            aug_strength=0.0,
        ),
        "regularized": TrainConfig(
            **common,
            **large,
            weight_decay=0.05,
            label_smoothing=0.2,
            drop_rate=0.3,
            aug_strength=0.25,
        ),
        "fix list": TrainConfig(
            **common,
            **small,
            weight_decay=0.05,
            label_smoothing=0.2,
            drop_rate=0.3,
            aug_strength=0.5,
        ),
    }


def check(curves: dict[str, list[EpochMetrics]]) -> list[tuple[str, bool]]:
    seed, fixed = curves["no regularization"], curves["regularized"]
    last, best_loss = seed[-1], min(m.val_loss for m in seed)
    best_seed = max(m.val_top1 for m in seed)
    best_fixed = max(m.val_top1 for m in fixed)
    return [
        (
            f"no regularization overfits: final train top-1 {last.train_top1:.3f} - val top-1 "
            f"{last.val_top1:.3f} = {last.train_top1 - last.val_top1:.3f} >= 0.20",
            last.train_top1 - last.val_top1 >= 0.20,
        ),
        (
            f"no regularization: val loss rises: final {last.val_loss:.3f} > "
            f"minimum {best_loss:.3f} + 0.05",
            last.val_loss > best_loss + 0.05,
        ),
        (
            f"regularized narrows the gap: final gap {fixed[-1].gap:.3f} < {last.gap:.3f}",
            fixed[-1].gap < last.gap,
        ),
        (
            f"regularized improves val top-1: best {best_fixed:.3f} > {best_seed:.3f}",
            best_fixed > best_seed,
        ),
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--scratch", action="store_true", help="random init, bigger ViT")
    p.add_argument("--out", type=Path, default=Path("results/bench_overfitting.json"))
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (1 avoids oversubscription when other jobs share the CPU)",
    )
    p.add_argument("--all", action="store_true", help="also run every fix at once")
    p.add_argument(
        "--reg",
        default="",
        help="override the regularized arm, e.g. "
        "'weight_decay=0.05,label_smoothing=0.1,drop_rate=0.1,aug_strength=0.5'",
    )
    p.add_argument("--only", help="run one arm (no checks)")
    args = p.parse_args()
    data = DataConfig(manifest=str(make_demo_dataset(DEMO_ROOT, progress=False)))
    curves: dict[str, list[EpochMetrics]] = {}
    arms = recipes(args.epochs, data, args.threads, scratch=args.scratch)
    if args.reg:
        values = dict(item.split("=") for item in args.reg.split(","))
        arms["regularized"] = dataclasses.replace(
            arms["regularized"], **{k: float(v) for k, v in values.items()}
        )
    for name, config in arms.items():
        if args.only and name != args.only:
            continue
        if name == "fix list" and not args.all:
            continue
        trainer = Trainer(config, progress=False)
        print(
            f"== {name}: {trainer.num_params:,} parameters, {len(trainer.train_part):,} train "
            f"/ {len(trainer.dataset.val):,} val images",
            flush=True,
        )
        print(
            f"{'epoch':>5} {'train loss':>10} {'train top1':>10} {'val loss':>9} "
            f"{'val top1':>9} {'gap':>7}",
            flush=True,
        )
        curves[name] = []
        for m in trainer.fit():
            curves[name].append(m)
            print(
                f"{m.epoch:>5} {m.train_loss:>10.3f} {m.train_top1:>10.3f} {m.val_loss:>9.3f} "
                f"{m.val_top1:>9.3f} {m.gap:>+7.3f}",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({k: [m.as_dict() for m in v] for k, v in curves.items()}))
    if args.only:
        return 0
    results = check(curves)
    for text, ok in results:
        print(f"[{'ok' if ok else 'FAIL'}] {text}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
