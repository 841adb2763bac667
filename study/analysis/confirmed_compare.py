"""The confirmation's paired comparisons on the same test images, and its verdict sentence."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from study.analysis.inputs import ConfirmRun, ConfirmRuns

if TYPE_CHECKING:
    from study.analysis.confirmed import ConfirmedRow

Z = 1.96


@dataclass(frozen=True)
class Comparison:
    """Test top-1 of ``a`` minus ``b`` on the same test images, with its 95 % interval."""

    label: str
    a: int
    b: int
    difference: float
    low: float
    high: float
    images: int

    @property
    def beyond_noise(self) -> bool:
        return self.low > 0 or self.high < 0


def paired(
    label: str, a: int, b: int, runs_a: Sequence[ConfirmRun], runs_b: Sequence[ConfirmRun]
) -> Comparison:
    """a minus b: per image, each side's correctness averaged over its runs; the interval adds
    the images' paired spread and each side's seed-to-seed spread of its mean."""
    ca = np.mean([r.test.correct for r in runs_a if r.test is not None], axis=0)
    cb = np.mean([r.test.correct for r in runs_b if r.test is not None], axis=0)
    d = ca - cb
    n = len(d)
    var = float(d.var(ddof=1)) / n if n > 1 else 0.0
    for side in (runs_a, runs_b):
        tops = [r.test_top1 for r in side]
        if len(tops) > 1:
            var += float(np.var(tops, ddof=1)) / len(tops)
    half = Z * math.sqrt(var)
    diff = float(d.mean())
    return Comparison(label, a, b, diff, diff - half, diff + half, n)


def comparisons(
    runs: ConfirmRuns, rows: Sequence[ConfirmedRow], notes: list[str]
) -> tuple[Comparison, ...]:
    """The winner against the runner-up and against the baseline (when another config)."""
    if not rows or rows[0].runs == 0:
        return ()
    winner, targets = rows[0], []
    if len(rows) > 1:
        targets.append(
            ("the winner vs #2" + (" (the baseline)" if rows[1].baseline else ""), rows[1])
        )
    base = next((r for r in rows[2:] if r.baseline), None)
    if base is not None:
        targets.append(("the winner vs the baseline", base))
    mine = [r for r in runs.runs if r.trial == winner.trial and r.test is not None]
    found = []
    for label, row in targets:
        theirs = [r for r in runs.runs if r.trial == row.trial and r.test is not None]
        if not mine or not theirs:
            notes.append(f"{label}: no test predictions of both, not compared image by image.")
            continue
        found.append(paired(label, winner.trial, row.trial, mine, theirs))
    return tuple(found)


def verdict(
    rows: Sequence[ConfirmedRow], compared: Sequence[Comparison], test_images: int
) -> tuple[str, str | None]:
    """One sentence, and (when within noise) what would settle it."""
    if not rows or rows[0].runs == 0:
        return "Not confirmed yet: the winner has no finished rerun.", None
    who = "the winner (the baseline itself)" if rows[0].baseline else "the winner"
    worse = [c for c in compared if c.high < 0]
    if worse:
        c = worse[0]
        return f"{who.capitalize()} does not hold: trial {c.b} beats it on test beyond noise.", None
    if not compared:
        return f"Only {who} has test runs: nothing to compare it with on test.", None
    first = compared[0]
    if first.beyond_noise:
        return f"{who.capitalize()} holds: it beats trial {first.b} on test beyond noise.", None
    half = (first.high - first.low) / 2
    settle = None
    if abs(first.difference) > 0 and half > 0:
        need = math.ceil(test_images * (half / abs(first.difference)) ** 2)
        settle = (
            f"A difference of {100 * abs(first.difference):.1f} points would exceed its interval "
            f"with about {need:,} test images (an estimate: the interval narrows as one over "
            "the square root of the images; more seeds narrow its seed part)."
        )
    return (
        f"{who.capitalize()} is within noise of trial {first.b} on test: the difference is "
        "not distinguishable from noise in this study.",
        settle,
    )
