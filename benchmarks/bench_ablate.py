"""Benchmark: what seeds buy in an ablation's interval width, and what the ablation machinery
costs per run beside training.

    python benchmarks/bench_ablate.py            # ~1 minute on 2 cores

1. Interval width against seeds, for the demo's fix-list design (6 factors: the 2^(6-2)
   resolution IV fraction, 16 points). Each row simulates 200 ablations through the real fit
   (run-to-run SD = the demo's noise floor, 2.8 points) and prints the mean 95 % half-width of
   an effect, the formula's (``expected_half_width``), and the ratio to one seed's; with the
   runs and minutes it costs at the demo's measured ~45 s per run.
2. The machinery's time per run: a planted ablation (48 runs of a fake training function)
   through the real plan, linked study, claims and tells on a fresh SQLite file, against the
   demo's seconds per run.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.study.ablate.planted

from study.ablate.command import AblateOptions, ablate  # noqa: E402
from study.ablate.design import Factor, factorial_design  # noqa: E402
from study.ablate.fit import Observation, expected_half_width, fit_factorial  # noqa: E402
from tests.study.ablate.planted import planted_value, recorded_study  # noqa: E402

NOISE = 0.028  # the demo's noise floor: one standard error of val top-1 on 326 images
SECONDS_PER_RUN = 45.0  # the demo's fix-list runs on 2 cores (README, "Measured effects")


def widths(seeds: int, replicates: int, rng: np.random.Generator) -> float:
    design = factorial_design([Factor(f"f{i}", 0, 1) for i in range(6)])
    found = []
    for _ in range(replicates):
        obs = [
            Observation(row, s, 0.45 + rng.normal(0, NOISE))
            for row in design.rows
            for s in range(seeds)
        ]
        fit = fit_factorial(design, obs)
        if fit.half_width is None:
            return float("nan")
        found.append(fit.half_width)
    return float(np.mean(found))


def seeds_table(replicates: int) -> None:
    design = factorial_design([Factor(f"f{i}", 0, 1) for i in range(6)])
    rng = np.random.default_rng(0)
    print("seeds  runs  minutes  half-width (simulated)  (formula)  vs 2 seeds")
    base = expected_half_width(design, 2, NOISE)
    for seeds in (1, 2, 3, 4):
        simulated = widths(seeds, replicates, rng)
        formula = expected_half_width(design, seeds, NOISE)
        runs = len(design.rows) * seeds
        ratio = "-" if formula is None or base is None else f"{formula / base:.2f}x"
        shown = "none (2 df)" if formula is None else f"{100 * formula:.1f}"
        print(
            f"{seeds:>5}  {runs:>4}  {runs * SECONDS_PER_RUN / 60:>7.0f}  "
            f"{100 * simulated:>22.1f}  {shown:>9}  {ratio:>10}"
        )


def machinery(seeds: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-ablate-"))
    url = recorded_study(folder)

    def measure(run, linked, gate):
        return lambda trial, spec: planted_value(spec, run.record.baseline_params)

    start = time.perf_counter()
    ablate(
        AblateOptions(storage=url, to="fix_list", seeds=seeds), out=io.StringIO(), measure=measure
    )
    seconds = time.perf_counter() - start
    runs = 16 * seeds
    per_run = seconds / runs
    print(
        f"machinery: {runs} planted runs in {seconds:.1f} s, {per_run:.2f} s per run "
        f"(plan, claim, heartbeat, tell on SQLite) = {per_run / SECONDS_PER_RUN:.1%} of a demo "
        f"run's {SECONDS_PER_RUN:.0f} s of training"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    args = parser.parse_args()
    seeds_table(args.replicates)
    machinery(seeds=3)


if __name__ == "__main__":
    main()
