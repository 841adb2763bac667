"""Benchmark: what ``confirm``'s one look at the test split costs a run, measured side by side.

    python benchmarks/bench_confirm.py [--epochs 6] [--repeats 3]

The demo's training configuration (``configs/demo_train.yaml``) on the demo data, trained the
way a plain rerun trains it (``Trainer(keep_best=False)``) and the way a confirmation run does
(``keep_best=True``: a copy of the weights at every new best val epoch, then ``score_best`` on
the test split once). The two alternate, so a change in machine load hits both; the ratio of
the median seconds per run is printed, with what the extra time is made of.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from vitlab.config import DataConfig, load_train_config
from vitlab.dataset import load_dataset
from vitlab.demo import DEMO_ROOT, make_demo_dataset
from vitlab.train import Trainer


def one_run(config, dataset, keep_best: bool) -> tuple[float, float, int]:
    """Seconds for the whole run, seconds of the test pass, and the test images scored."""
    start = time.perf_counter()
    trainer = Trainer(config, dataset=dataset, progress=False, keep_best=keep_best)
    for _ in trainer.fit():
        pass
    test_seconds = 0.0
    if keep_best:
        t = time.perf_counter()
        trainer.score_best(dataset.test)
        test_seconds = time.perf_counter() - t
    return time.perf_counter() - start, test_seconds, len(dataset.test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    manifest = make_demo_dataset(DEMO_ROOT, progress=False)
    config = load_train_config("configs/demo_train.yaml")
    config = dataclasses.replace(
        config, data=DataConfig(manifest=str(manifest)), epochs=args.epochs, device="cpu"
    )
    dataset = load_dataset(config.data, image_size=config.image_size, progress=False)
    plain, confirm, test = [], [], []
    for _ in range(args.repeats):
        plain.append(one_run(config, dataset, keep_best=False)[0])
        seconds, test_seconds, images = one_run(config, dataset, keep_best=True)
        confirm.append(seconds)
        test.append(test_seconds)
    p, c = statistics.median(plain), statistics.median(confirm)
    print(
        f"{args.epochs} epochs, {len(dataset.train)} train / {len(dataset.val)} val / "
        f"{images} test images"
    )
    print(f"plain rerun:        {p:.2f} s (median of {args.repeats})")
    print(f"confirmation run:   {c:.2f} s, of which the test pass {statistics.median(test):.2f} s")
    print(f"ratio confirmation / plain: {c / p:.3f}")


if __name__ == "__main__":
    main()
