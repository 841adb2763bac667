"""Section 1, the answer: baseline against best, the ranked fixes, what this study can tell, the
split, and the trials and compute, in plain sentences first.

The verdict "what this study can tell" has these kinds and thresholds (the README quotes them):

- ``no_params``: no parameter is searched (every one fixed): nothing to rank.
- ``too_few``: fewer finished trials (COMPLETE with a value, baseline included) than
  :func:`study.analysis.findings.trials_to_rank` of the searched parameters (scientific and
  nuisance): ``MIN_TRIALS_PER_PARAM`` = 10 per parameter. The page ranks nothing and says how
  many more trials would, e.g. "5 finished trials for 7 parameters: too few to rank; about 65 more
  trials, or `python -m study ablate`, would".
- ``no_effect``: enough trials, but no scientific parameter's effect interval (95 %) excludes
  zero. A 95 % interval's half-width shrinks about as 1/sqrt(n) with n trials, so the effect
  closest to the noise would leave it after about n * (half-width / |estimate|)^2 trials.
- ``ranked``: "k of m parameters have effects beyond noise" (m: the scientific ones).
- ``unknown``: enough trials, but section 2 gave no findings (it failed, or says why not).
- ``measured`` / ``measured_none``: a complete ``ablate`` design ranks the fixes by measured
  effects instead; k of them have 95 % t-intervals excluding zero (none: ``measured_none``).

Baseline against best is a paired comparison on the same val images (paired bootstrap and
McNemar, :mod:`study.analysis.paired`); without both trials' predictions it falls back, saying
so, to an unpaired normal interval of two binomial proportions (far wider).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from study.analysis.findings import MatteredInfo, can_rank, trials_to_rank
from study.analysis.inputs import ReportInputs, baseline_row, best_row, finished, noise_floor
from study.analysis.markup import Html, bullets, esc, paragraph, pct, points
from study.analysis.measured import MeasuredInfo, measured_sentence, measured_verdict
from study.analysis.paired import LEVEL, paired_difference
from study.analysis.split_view import (
    RandomSplit,
    SplitTable,
    draw_split,
    get_random_split,
    get_split_table,
)
from study.analysis.trial_states import TrialStates, draw_trial_states, get_trial_states

NOISE = "not distinguishable from noise in this study"
BEYOND = "beyond noise"
ABLATE = "`python -m study ablate`"
CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Comparison:
    """The baseline against the best trial. ``kind``: compared, best_is_baseline, no_baseline,
    no_trials. Differences are best minus baseline, in fractions of val top-1."""

    kind: str
    baseline_number: int | None = None
    baseline_top1: float | None = None
    best_number: int | None = None
    best_top1: float | None = None
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None  # McNemar's exact (paired) or a z-test (unpaired)
    paired: bool = False
    images: int = 0
    note: str | None = None  # why the comparison is unpaired or missing

    @property
    def beyond_noise(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


@dataclass(frozen=True)
class Verdict:
    """What this study can tell; see the module docstring for the kinds and thresholds."""

    kind: str
    text: str
    trials_needed: int | None = None  # finished trials in all that would settle it (estimate)


@dataclass(frozen=True)
class AnswerInfo:
    study_name: str
    comparison: Comparison
    fixes: tuple[str, ...]  # one sentence per scientific parameter, ranked (empty: not ranked)
    fixes_note: str | None  # why no ranking is shown
    finished: int
    searched: tuple[tuple[str, str], ...]  # (parameter, role), scientific and nuisance
    val_images: int
    noise_floor: float | None  # one standard error of val top-1, as a fraction
    verdict: Verdict
    split: SplitTable | None
    random_split: RandomSplit | None
    trials: TrialStates
    measured_by: str | None = None  # the ablation the ranked fixes come from (None: the search)
    measure_hint: str | None = None  # without one: the command that would measure them


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def searched_params(inputs: ReportInputs) -> tuple[tuple[str, str], ...]:
    """(name, role) of every searched parameter: the space's, else the frame's params_ columns;
    a parameter with no role recorded counts as scientific, as section 2 counts it."""
    space = inputs.study.space.get("params") or {}
    names = list(space) or [
        c.removeprefix("params_") for c in inputs.frame.columns if c.startswith("params_")
    ]
    found = []
    for name in names:
        role = inputs.study.roles.get(name) or (space.get(name) or {}).get("role") or "scientific"
        if role != "fixed":
            found.append((name, role))
    return tuple(found)


def _top1(row: pd.Series) -> float:
    value = row.get("best_val_top1")
    return float(row["value"] if value is None or pd.isna(value) else value)


def get_comparison(inputs: ReportInputs) -> Comparison:
    """The baseline's val top-1 against the best trial's, with the paired difference."""
    base, best = baseline_row(inputs.frame), best_row(inputs.frame)
    if best is None:
        return Comparison("no_trials")
    best_n, best_top1 = int(best["number"]), _top1(best)
    if base is None:
        return Comparison("no_baseline", best_number=best_n, best_top1=best_top1)
    base_n, base_top1 = int(base["number"]), _top1(base)
    if base_n == best_n:
        return Comparison("best_is_baseline", base_n, base_top1, best_n, best_top1)
    a, b = inputs.predictions.get(base_n), inputs.predictions.get(best_n)
    if a is not None and b is not None and len(a.labels) and np.array_equal(a.labels, b.labels):
        d = paired_difference(a.correct, b.correct)
        stats = (d.difference, d.low, d.high, d.p_value, True, d.images, None)
    else:
        why = "val predictions are missing" if a is None or b is None else "on different images"
        stats = _unpaired(base_top1, best_top1, inputs.val_images, why)
    return Comparison("compared", base_n, base_top1, best_n, best_top1, *stats)


def _unpaired(a: float, b: float, n: int, why: str) -> tuple:
    """b - a as two independent binomial proportions on ``n`` images: a normal interval and a
    two-sided z-test (the fallback when the paired comparison cannot be made)."""
    if n <= 0:
        return b - a, None, None, None, False, 0, f"{why}, and the val size is unknown: no interval"
    se = math.sqrt((a * (1 - a) + b * (1 - b)) / n)
    z = norm.ppf(1 - (1 - LEVEL) / 2)
    p = float(2 * norm.sf(abs(b - a) / se)) if se > 0 else float(a == b)
    note = f"unpaired binomial interval ({why}): wider than a paired one"
    return b - a, b - a - z * se, b - a + z * se, p, False, n, note


def get_verdict(trials: int, params: int, mattered: MatteredInfo | None) -> Verdict:
    """What ``trials`` finished trials of ``params`` searched parameters can tell (see module)."""
    if params == 0:
        return Verdict("no_params", "no parameter is searched: there is nothing to rank")
    need = trials_to_rank(params)
    head = f"{_plural(trials, 'finished trial')} for {_plural(params, 'parameter')}"
    if not can_rank(trials, params):
        more = _plural(need - trials, "more trial")
        return Verdict(
            "too_few", f"{head}: too few to rank; about {more}, or {ABLATE}, would", need
        )
    if mattered is None or mattered.note or not mattered.findings:
        why = mattered.note if mattered else "section 2 (what mattered) could not be built"
        return Verdict("unknown", f"{head}: enough to rank, but {why or 'no parameter found'}")
    effects = [f.effect for f in mattered.findings if f.effect is not None]
    k = sum(f.distinguishable for f in mattered.findings)
    if k:
        return Verdict(
            "ranked", f"{k:,} of {len(mattered.findings):,} parameters have effects beyond noise"
        )
    # The half-width h shrinks ~ 1/sqrt(n): |estimate| > h after n * (h / |estimate|)^2 trials.
    n = mattered.trials or trials
    needed = [n * ((e.high - e.low) / 2 / abs(e.estimate)) ** 2 for e in effects if e.estimate]
    text = f"{head}: enough to rank, but no parameter's effect is beyond noise"
    if not needed:
        return Verdict("no_effect", f"{text}; every estimate is zero")
    total = max(math.ceil(min(needed)), n + 1)
    more = _plural(total - n, "more trial")
    tail = f"if the clearest estimate held, about {more} (intervals narrow as 1/√n) would tell"
    return Verdict("no_effect", f"{text}; {tail}", total)


def get_answer_info(
    inputs: ReportInputs, mattered: MatteredInfo | None, measured: MeasuredInfo | None = None
) -> AnswerInfo:
    """Section 1 as plain data; ``mattered`` is section 2's (None: it failed); the first
    complete design of ``measured``, when there is one, ranks the fixes and gives the verdict."""
    searched = searched_params(inputs)
    done = len(finished(inputs.frame))
    verdict = get_verdict(done, len(searched), mattered)
    comparison = get_comparison(inputs)
    design = next((d for d in (measured.designs if measured else ()) if d.complete), None)
    if design is not None:
        fixes, note = tuple(measured_sentence(t) for t in design.effects), None
        verdict = Verdict(*measured_verdict(design))
    elif mattered is None:
        fixes, note = (), "Section 2 (what mattered) could not be built, so no fix is ranked here."
    elif verdict.kind == "ranked" or verdict.kind == "no_effect":
        fixes, note = tuple(f.sentence for f in mattered.findings), None
    else:
        fixes, note = (), mattered.note or f"No ranking: {verdict.text}."
    top1 = comparison.best_top1 if comparison.baseline_top1 is None else comparison.baseline_top1
    floor = noise_floor(top1, inputs.val_images) if top1 is not None else math.nan
    return AnswerInfo(
        study_name=inputs.study_name,
        comparison=comparison,
        fixes=fixes,
        fixes_note=note,
        finished=done,
        searched=searched,
        val_images=inputs.val_images,
        noise_floor=None if math.isnan(floor) else floor,
        verdict=verdict,
        split=get_split_table(dict(inputs.study.split_summary)),
        random_split=get_random_split(inputs.study.class_counts),
        trials=get_trial_states(inputs.frame),
        measured_by=None if design is None else f"{design.short}, to {design.target_label}",
        measure_hint=measured.suggestion if measured and design is None else None,
    )


def comparison_sentences(c: Comparison) -> tuple[str, ...]:
    """The comparison in plain sentences."""
    if c.kind == "no_trials":
        return ("No trial has finished yet: there is nothing to compare.",)
    best = f"the best trial (#{c.best_number}) reached {pct(c.best_top1)}"
    if c.kind == "no_baseline":
        return (
            f"No baseline trial (the seed's recipe) has finished, so nothing is compared "
            f"against it; {best} val top-1.",
        )
    base = f"The baseline (#{c.baseline_number}, the seed's recipe) reached {pct(c.baseline_top1)}"
    base += " val top-1"
    if c.kind == "best_is_baseline":
        return (f"{base}, and it is the best trial: no searched trial beat it.",)
    if c.low is None:
        return (f"{base}; {best}: {points(c.difference)}, {c.note}.",)
    how = (
        f"paired over the same {c.images:,} val images, McNemar p = {c.p_value:.3g}"
        if c.paired
        else f"{c.note}, p = {c.p_value:.3g}"
    )
    word = BEYOND if c.beyond_noise else NOISE
    return (
        f"{base}; {best}.",
        f"The difference is {points(c.difference)} (95 % interval {points(c.low)} to "
        f"{points(c.high)}; {how}): {word}.",
    )


def draw_answer(info: AnswerInfo) -> Html:
    """Section 1 as HTML: plain sentences first, then the split and the trials."""
    c = info.comparison
    box = "beyond" if c.beyond_noise else "verdict"
    parts = [
        f'<p class="{box}"><b>Baseline against best.</b> '
        f"{' '.join(esc(s) for s in comparison_sentences(c))}</p>"
    ]
    where = f"measured: {info.measured_by}" if info.measured_by else "estimated from the trials"
    parts.append(f"<h3>The ranked fixes ({esc(where)})</h3>")
    parts.append(bullets(info.fixes) if info.fixes else paragraph(info.fixes_note or ""))
    searched = ", ".join(f"{name} ({role})" for name, role in info.searched) or "none"
    floor = (
        f"one standard error of val top-1 on these {info.val_images:,} val images is "
        f"{points(info.noise_floor, sign=False)}"
        if info.noise_floor is not None
        else "the val noise floor is unknown (no split size or no finished trial)"
    )
    verdict = CODE.sub(r"<code>\1</code>", esc(info.verdict.text))  # `command` -> <code>
    verdict_box = "beyond" if info.verdict.kind in ("ranked", "measured") else "verdict"
    parts += [
        "<h3>What this study can tell</h3>",
        paragraph(
            f"{_plural(info.finished, 'finished trial')}; "
            f"{_plural(len(info.searched), 'searched parameter')}: {searched}; {floor}."
        ),
        f'<p class="{verdict_box}"><b>Verdict:</b> {verdict}.</p>',
        paragraph(info.measure_hint + ".") if info.measure_hint else "",
        paragraph(
            f"Thresholds: ranking needs {trials_to_rank(1)} finished trials per searched "
            "parameter; an effect whose 95 % interval includes zero is "
            f"{NOISE}."
        ),
        "<h3>The split</h3>",
        draw_split(info.split, info.random_split),
        "<h3>Trials and compute</h3>",
        draw_trial_states(info.trials),
    ]
    return Html("".join(parts))
