"""Benchmark: where the relative floor sits on a space's data, and which recipes it stops.

    python benchmarks/bench_floor.py [--space search_spaces/demo.yaml] [--data MANIFEST]
                                     [--epoch 3]

Trains the baseline recipe, and the same recipe with each other model and weights choice, up to
``--epoch`` (one seed, one CPU thread, the space's own epoch schedule), and prints each one's val
top-1 at that epoch against the floor: ``baseline_fraction`` x the baseline's, and
``chance_multiple`` x chance. About 10 minutes for the demo on one CPU core.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

from study.run.runner import RunOptions, load_study_dataset
from study.space.load import load_space
from vitlab.config import TrainConfig
from vitlab.dataset import Dataset
from vitlab.train import Trainer


def val_top1_at(config: TrainConfig, dataset: Dataset, epoch: int) -> float:
    for m in Trainer(config, dataset=dataset, progress=False).fit():
        if m.epoch == epoch:
            return m.val_top1
    raise ValueError(f"the recipe has fewer than {epoch} epochs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", type=Path, default=Path("search_spaces/demo.yaml"))
    parser.add_argument("--data", type=Path, default=None, help="a manifest (default: the demo)")
    parser.add_argument("--epoch", type=int, default=3)
    parser.add_argument("--fraction", type=float, default=0.5)
    parser.add_argument("--chance-multiple", type=float, default=3.0)
    args = parser.parse_args()
    space = load_space(args.space)
    # The data a study of this space would use (its data section, or --data), split and cached.
    dataset, _, _ = load_study_dataset(
        RunOptions(space=args.space, data=args.data), space, sys.stdout
    )
    choices = {p.name: list(p.choices or ()) for p in space.params if p.type == "categorical"}
    recipes = [dict(space.baseline)]
    for model, weights in itertools.product(
        choices.get("model", [None]), choices.get("pretrained", [None])
    ):
        recipe = {**space.baseline, "model": model, "pretrained": weights}
        recipe = {k: v for k, v in recipe.items() if v is not None}
        if recipe != recipes[0]:
            recipes.append(recipe)
    chance = 1 / len(dataset.classes)
    baseline = None
    for recipe in recipes:
        config = space.train_config(recipe)
        config = dataclasses.replace(config, threads=1, seed=0, device="cpu")
        top1 = val_top1_at(config, dataset, args.epoch)
        baseline = top1 if baseline is None else baseline
        floor = args.fraction * baseline
        verdict = "baseline" if recipe is recipes[0] else ("kept" if top1 >= floor else "pruned")
        label = f"{recipe.get('model', config.model)} / {recipe.get('pretrained', '-')}"
        print(f"{label:32s} val top-1 {top1:.3f} at epoch {args.epoch}  {verdict}", flush=True)
    print(
        f"floor: {args.fraction:g} x the baseline = {args.fraction * (baseline or 0):.3f}; "
        f"{args.chance_multiple:g}x chance = {args.chance_multiple * chance:.3f} "
        f"({len(dataset.classes)} classes)"
    )


if __name__ == "__main__":
    main()
