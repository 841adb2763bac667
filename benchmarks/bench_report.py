"""Benchmark: the seconds to build the report, per section and in total, and the file's size,
for planted studies of 100, 1,000 and 10,000 trials.

    python benchmarks/bench_report.py                  # 100, 1,000 and 10,000 trials (~2 min)
    python benchmarks/bench_report.py --trials 1000

Targets on 2 cores: 1,000 trials <= 10 s, 10,000 trials <= 60 s. The studies are planted
(study.analysis.planted: seven parameters like the demo's, four with effects, three null; 326
val images; the trials expected a point below the baseline pruned by a floor), sampled at
random so that making them takes seconds; the report reads them as it reads any study (the
trials frame plus the predictions of the baseline and the top five). Making the study and
reading storage are not timed; building every section and the page is.
"""

from __future__ import annotations

import argparse
import os
import time

import optuna

from study.analysis.planted import Planted, planted_inputs
from study.report.page import build_page
from study.report.sections import SECTIONS

PLANTED = Planted(
    effects={"weight_decay": 0.10, "aug_strength": -0.06, "label_smoothing": 0.03, "model": 0.02},
    nulls=("drop_rate", "min_images", "pretrained"),
    baseline={
        "weight_decay": 0.1,
        "aug_strength": 0.0,
        "label_smoothing": 0.3,
        "model": 1.0,
        "drop_rate": 0.0,
        "min_images": 0.0,
        "pretrained": 1.0,
    },
)
TARGETS = {1_000: 10.0, 10_000: 60.0}  # seconds on 2 cores


def bench(trials: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    inputs = planted_inputs(
        PLANTED, trials, sampler=optuna.samplers.RandomSampler(0), prune_below=0.01
    )
    made = time.perf_counter() - start
    timings: dict[str, float] = {}
    start = time.perf_counter()
    page = build_page(inputs, SECTIONS, timings=timings)
    total = time.perf_counter() - start
    target = TARGETS.get(trials)
    verdict = "" if target is None else f"  (target <= {target:.0f} s: {total / target:.2f}x)"
    print(f"\n{trials:,} trials (made in {made:.1f} s, not timed)")
    for section in SECTIONS:
        print(f"  {section.title:<40} {timings[section.anchor]:7.2f} s")
    print(f"  {'total':<40} {total:7.2f} s{verdict}")
    print(f"  file size {len(page.encode()) / 1e6:.2f} MB ({len(page.encode()):,} bytes)")
    if "could not be built" in page:
        print("  WARNING: a section could not be built (see the warning above)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1_000, 10_000])
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores")
    for trials in args.trials:
        bench(trials)


if __name__ == "__main__":
    main()
