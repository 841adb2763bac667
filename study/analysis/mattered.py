"""Section 2, "What mattered, ranked": per searched parameter, its importance by two named
evaluators (:mod:`study.analysis.importance`) and its effect in val top-1 from the baseline's
value to the best trial's (:mod:`study.analysis.effects`), each with a bootstrap interval, and
one verdict line. Scientific parameters are ranked only when the study has the trials to
(:func:`study.analysis.findings.can_rank`); nuisance ones get the same analysis, shown apart;
fixed ones are listed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from study.analysis import effects as eff
from study.analysis import importance as imp
from study.analysis.findings import Finding, Interval, MatteredInfo, can_rank, trials_to_rank
from study.analysis.inputs import ReportInputs, baseline_row, best_row, finished
from study.analysis.markup import Html, bullets, esc, figure, paragraph, table

NOISE = "not distinguishable from noise in this study"
MIN_TRIALS = 3  # fewer finished trials: no evaluator or fit runs at all


def _params(inputs: ReportInputs) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
    """The searched (name, role) pairs in the space's order, and the fixed names."""
    space = inputs.study.space or {}
    spec = dict(space.get("params") or {})
    in_frame = sorted(c[len("params_") :] for c in inputs.frame.columns if c.startswith("params_"))
    names = [*spec, *(n for n in in_frame if n not in spec)]
    roles = {n: inputs.study.roles.get(n) or "scientific" for n in names}
    fixed = [*dict(space.get("fixed") or {}), *(n for n in names if roles[n] == "fixed")]
    searched = [(n, roles[n]) for n in names if roles[n] != "fixed"]
    return searched, tuple(dict.fromkeys(fixed))


def _values(row: pd.Series | None, names: Sequence[str]) -> dict[str, Any]:
    if row is None:
        return {}
    values = {n: row.get(f"params_{n}") for n in names}
    # Plain Python values (the info holds plain data): numpy's 0.5 -> 0.5.
    return {n: getattr(v, "item", lambda v=v: v)() for n, v in values.items() if not _missing(v)}


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _verdict(effect: Interval | None, why: str) -> str:
    if effect is None:
        return why
    if not effect.excludes_zero:
        return NOISE
    return (
        f"beyond noise: {100 * effect.estimate:+.1f} points "
        f"(95 % interval {100 * effect.low:+.1f} to {100 * effect.high:+.1f})"
    )


def _sentence(name: str, effect: Interval | None, verdict: str, a: Any, b: Any, lead: str) -> str:
    if effect is None or not effect.excludes_zero:
        return f"{name}: {verdict}"
    half = 100 * (effect.high - effect.low) / 2
    return (
        f"{name}: {lead}{100 * effect.estimate:+.1f} ± {half:.1f} points "
        f"from the baseline's {eff.fmt(a)} to the best's {eff.fmt(b)}"
    )


def _rank_key(finding: Finding) -> float:
    """fANOVA's importance (PED-ANOVA's without scikit-learn). fANOVA's is the share of val
    top-1's variance over the searched space, what "mattered" means here; PED-ANOVA's, what it
    takes to reach the top 10 %, is much noisier at a few hundred trials (on planted studies it
    puts a null parameter above a real one in ~1 study in 10). Where the two disagree the page
    says so."""
    found = dict(finding.importance)
    chosen = found.get(imp.FANOVA) or found.get(imp.PED_ANOVA)
    return chosen.estimate if chosen else 0.0


def _disagreement(findings: Sequence[Finding]) -> str | None:
    orders = {}
    for label in imp.EVALUATORS:
        scores = [(dict(f.importance).get(label), f.name) for f in findings]
        if any(s is None for s, _ in scores):
            return None
        orders[label] = [n for _, n in sorted(scores, key=lambda s: -s[0].estimate)]
    if len(orders) < 2 or len({tuple(o) for o in orders.values()}) == 1:
        return None
    a, b = orders.values()
    moved = [f.name for f in findings if a.index(f.name) != b.index(f.name)]
    said = "; ".join(f"{label}: {' > '.join(order)}" for label, order in orders.items())
    return f"The two evaluators rank {', '.join(moved)} differently ({said})."


def get_mattered_info(
    inputs: ReportInputs,
    *,
    resamples: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> MatteredInfo:
    """Section 2's findings. ``resamples``: importance bootstrap replicates (None: by size);
    the effects' cheap least-squares bootstrap always uses :data:`effects.RESAMPLES`."""
    searched, fixed = _params(inputs)
    scientific = [n for n, role in searched if role == "scientific"]
    names = [n for n, _ in searched if f"params_{n}" in inputs.frame.columns]
    rows = finished(inputs.frame)
    rows = rows[rows[[f"params_{n}" for n in names]].notna().all(axis=1)] if names else rows
    n = len(rows)
    ranked = bool(scientific) and can_rank(n, len(scientific))
    base = _values(baseline_row(inputs.frame), names)
    base.update({k: v for k, v in inputs.study.baseline_params.items() if not _missing(v)})
    best = _values(best_row(inputs.frame), names)
    found: Mapping[str, Mapping[str, Interval]] = {}
    effects: Mapping[str, eff.Effect] = {}
    the_plan = imp.plan(n, resamples)
    if n >= MIN_TRIALS and names:
        dists = imp.distributions(rows, names, dict((inputs.study.space or {}).get("params") or {}))
        trials = imp.frozen_trials(rows, names, dists)
        found = imp.importances(trials, names, the_plan, seed=seed, progress=progress)
        if progress:
            progress(f"what mattered: effects, {eff.RESAMPLES} least-squares bootstrap resamples")
        effects = eff.effects(rows, names, dists, base, best, resamples=eff.RESAMPLES, seed=seed)
    findings = _findings(searched, effects, found, base, best)
    sci = [f for f in findings if f.role == "scientific"]
    nuisance = [f for f in findings if f.role != "scientific"]
    note = None
    if ranked:
        sci.sort(key=_rank_key, reverse=True)
        nuisance.sort(key=_rank_key, reverse=True)
        sci = _lead_largest(sci)
    elif scientific:
        note = (
            f"{n} finished trials for {len(scientific)} scientific "
            f"parameter{'s' if len(scientific) > 1 else ''}: too few to rank "
            f"(ranking needs {trials_to_rank(len(scientific))}); shown in the search space's order."
        )
    else:
        note = "No scientific parameter was searched: nothing to rank."
    return MatteredInfo(
        effect_method=eff.METHOD,
        evaluators=tuple(found) or imp.EVALUATORS,
        trials=n,
        findings=tuple(sci),
        nuisance=tuple(nuisance),
        fixed=fixed,
        disagreement=_disagreement(sci) if ranked and len(sci) > 1 else None,
        note=note,
        resampling=the_plan.describe() if found else "",
    )


def _findings(
    searched: Sequence[tuple[str, str]],
    effects: Mapping[str, eff.Effect],
    found: Mapping[str, Mapping[str, Interval]],
    base: Mapping[str, Any],
    best: Mapping[str, Any],
) -> list[Finding]:
    """One finding per searched parameter, in the space's order."""
    findings = []
    for name, role in searched:
        effect = effects.get(name, eff.Effect(None, eff.NO_DIRECTION))
        why = "too few finished trials to estimate its effect"
        if name in effects and effect.effect is None:
            why = "no baseline value to measure from" if name not in base else why
        verdict = _verdict(effect.effect, why)
        findings.append(
            Finding(
                name=name,
                role=role,
                importance=tuple((label, v[name]) for label, v in found.items() if name in v),
                effect=effect.effect,
                baseline_value=base.get(name),
                best_value=best.get(name),
                direction=effect.direction,
                verdict=verdict,
                sentence=_sentence(
                    name, effect.effect, verdict, base.get(name), best.get(name), ""
                ),
            )
        )
    return findings


def _lead_largest(findings: list[Finding]) -> list[Finding]:
    """The sentence of the largest distinguishable effect says so."""
    real = [f for f in findings if f.distinguishable]
    if len(findings) < 2 or not real:
        return findings
    top = max(real, key=lambda f: abs(f.effect.estimate))  # type: ignore[union-attr]
    sentence = _sentence(
        top.name,
        top.effect,
        top.verdict,
        top.baseline_value,
        top.best_value,
        "the largest effect beyond noise, ",
    )
    return [f if f is not top else replace(f, sentence=sentence) for f in findings]


def _imp_cell(finding: Finding, label: str) -> str:
    i = dict(finding.importance).get(label)
    return "–" if i is None else f"{i.estimate:.2f} ({i.low:.2f}–{i.high:.2f})"


def _effect_cell(finding: Finding) -> str:
    e = finding.effect
    if e is None:
        return "–"
    return f"{100 * e.estimate:+.1f} ({100 * e.low:+.1f} to {100 * e.high:+.1f})"


def _table(findings: Sequence[Finding], evaluators: Sequence[str], ranked: bool) -> Html:
    header = ["#" if ranked else "", "parameter", *(f"{e} importance (95 %)" for e in evaluators)]
    header += ["effect, points (95 %)", "baseline → best", "direction", "verdict"]
    rows = [
        [
            str(k + 1) if ranked else "",
            f.name,
            *(_imp_cell(f, e) for e in evaluators),
            _effect_cell(f),
            f"{eff.fmt(f.baseline_value)} → {eff.fmt(f.best_value)}",
            f.direction,
            f.verdict,
        ]
        for k, f in enumerate(findings)
    ]
    return table(header, rows, cls="mattered")


def _chart(findings: Sequence[Finding], evaluators: Sequence[str]) -> Html:
    """Importance with its interval, per evaluator (only drawn for a ranking)."""
    fig = go.Figure()
    names = [str(esc(f.name)) for f in findings]
    for label in evaluators:
        got = [dict(f.importance).get(label) or Interval(0, 0, 0) for f in findings]
        fig.add_bar(
            name=label,
            x=names,
            y=[i.estimate for i in got],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [max(i.high - i.estimate, 0) for i in got],
                "arrayminus": [max(i.estimate - i.low, 0) for i in got],
            },
        )
    fig.update_layout(barmode="group", yaxis_title="importance (sums to 1)", height=360)
    return figure(fig, "mattered-importance")


def draw_mattered(info: MatteredInfo) -> Html:
    """Section 2 as HTML: the methods, the ranked table (or why there is none), nuisance, fixed."""
    ranked = info.note is None and bool(info.findings)
    parts = [
        paragraph(
            f"From {info.trials:,} finished trials. Importance by {' and '.join(info.evaluators)};",
            f"effect by {info.effect_method}.",
            info.resampling,
        )
    ]
    if info.note:
        parts.append(paragraph(info.note))
    if info.disagreement:
        parts.append(paragraph(info.disagreement))
    if info.findings:
        parts.append(_table(info.findings, info.evaluators, ranked))
        if ranked and any(f.importance for f in info.findings):
            parts.append(_chart(info.findings, info.evaluators))
    if info.nuisance:
        parts.append(Html("<h3>Nuisance parameters</h3>"))
        parts.append(_table(info.nuisance, info.evaluators, False))
    if info.fixed:
        parts.append(Html("<h3>Fixed</h3>"))
        parts.append(bullets(info.fixed))
    return Html("".join(parts))
