"""Drawing the "Measured effects" section (:mod:`study.analysis.measured` makes its data): a
ranked table per design beside the search's estimates, the interactions, and the path's bars."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from study.analysis.markup import Html, esc, figure, paragraph, table
from study.analysis.measured import NOISE, DesignResult, MeasuredInfo, Term

__all__ = ["draw_measured"]


def _cell(estimate: float, low: float | None, high: float | None) -> str:
    head = f"{100 * estimate:+.1f}"
    if low is None or high is None:
        return f"{head} (no interval)"
    word = "" if low > 0 or high < 0 else f"; {NOISE}"
    return f"{head} ± {100 * (high - low) / 2:.1f} ({100 * low:+.1f} to {100 * high:+.1f}{word})"


def _effects_table(terms: Sequence[Term]) -> Html:
    rows = [
        (
            t.label,
            f"{t.baseline_value!r} → {t.target_value!r}",
            _cell(t.estimate, t.low, t.high),
            _cell(*t.surrogate) if t.surrogate else "—",
            t.agreement,
            ", ".join(t.aliases) or "—",
        )
        for t in terms
    ]
    head = ("factor", "baseline → target", "measured, points (95 % CI)")
    return table((*head, "the search's estimate", "agreement", "aliased with"), rows)


def _bars(terms: Sequence[Term], title: str, div_id: str) -> Html:
    fig = go.Figure(
        go.Bar(
            x=[100 * t.estimate for t in terms],
            y=[t.label for t in terms],
            orientation="h",
            error_x=dict(
                type="data",
                symmetric=False,
                array=[100 * ((t.high or t.estimate) - t.estimate) for t in terms],
                arrayminus=[100 * (t.estimate - (t.low or t.estimate)) for t in terms],
            ),
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="val top-1, points",
        height=120 + 40 * len(terms),
        margin=dict(l=160),
    )
    return figure(fig, div_id)


def _draw_design(d: DesignResult, i: int) -> Html:
    parts = [
        f"<h3>{esc(d.design)} to {esc(d.target_label)}</h3>",
        paragraph(
            f"{d.description}; {d.seeds} seed(s) per configuration, {d.epochs} epochs per run; "
            f"{d.done} of {d.total} runs done."
            + (
                f" Minimum detectable effect (the 95 % half-width): ±{100 * d.half_width:.1f} "
                f"points, {d.residual_df} residual degrees of freedom."
                if d.half_width is not None
                else ""
            )
        ),
    ]
    if d.note:
        parts.append(f'<p class="verdict">{esc(d.note)}</p>')
    if d.effects:
        parts.append(_effects_table(d.effects))
    if d.disagreements:
        parts.append(
            f'<p class="verdict">The measurement and the search disagree on: '
            f"{esc(', '.join(d.disagreements))}. Trust the measurement: it reran each "
            "configuration with several seeds; the search ran each trial once.</p>"
        )
    flagged = [t for t in d.interactions if t.excludes_zero]
    if d.interactions:
        rows = [
            (
                t.label,
                _cell(t.estimate, t.low, t.high),
                "yes" if t.excludes_zero else "no",
                ", ".join(t.aliases) or "—",
            )
            for t in d.interactions
        ]
        parts.append(
            paragraph(f"Interactions the design can estimate ({len(flagged)} beyond noise):")
        )
        parts.append(
            table(("interaction", "points (95 % CI)", "beyond noise", "aliased with"), rows)
        )
    if d.steps:
        parts.append(
            _bars(d.steps, "the path: what each change buys, in the order taken", f"path-{i}")
        )
    if d.design == "path" and d.effects:
        parts.append(
            _bars(d.effects, "leave-one-out: what reverting each factor costs", f"loo-{i}")
        )
    return Html("".join(parts))


def draw_measured(info: MeasuredInfo) -> Html:
    if not info.designs:
        text = info.suggestion or "No ablation can be planned yet (no finished baseline)."
        return paragraph(
            "No designed ablation has run for this study: every effect above is estimated from "
            f"the search's own trials, each run once. {text}."
        )
    return Html("".join(_draw_design(d, i) for i, d in enumerate(info.designs)))
