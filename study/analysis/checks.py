"""The answer's "Checked" lines: what the confirmation on test and the pruner audit say, one
line each, from their sections' infos (never a second estimate), or the command that checks."""

from __future__ import annotations

from dataclasses import dataclass

from study.analysis.answer import CODE
from study.analysis.audit import AuditInfo
from study.analysis.audit_draw import duration
from study.analysis.confirmed import ConfirmedInfo
from study.analysis.markup import Html, esc, pct, points


@dataclass(frozen=True)
class ChecksInfo:
    confirmed: str  # `command` spans become code
    audited: str


def _confirmed(info: ConfirmedInfo | None) -> str:
    if info is None:
        return "The confirmation on held-out test could not be read (see its section)."
    if not info.confirmed:
        return (
            f"Not confirmed on held-out test yet: `{info.command}` reruns the top configurations."
        )
    line = f"On held-out test: {info.verdict}"
    win = info.rows[0] if info.rows else None
    if win is not None and win.optimism is not None:
        line += f" The winner's search val minus its test top-1: {points(win.optimism)}"
        if win.like_selection is not None and win.like_shift is not None:
            line += (
                f"; on the test's classes, selection {points(win.like_selection)} and split "
                f"{points(win.like_shift)}"
            )
        line += "."
    if info.tau is not None:
        line += (
            f" Kendall's tau between the val and the test order: {info.tau:+.2f} over "
            f"{info.tau_configs} configurations."
        )
    return line


def _audited(info: AuditInfo | None) -> str:
    if info is None:
        return "The pruner audit could not be read (see the diagnostics section)."
    if info.stopped == 0:
        return "No trial was pruned or stopped early: the pruner cost nothing to audit."
    if not info.audited:
        return (
            f"The pruner's {info.stopped} stops are not audited: `{info.command}` reruns "
            f"{len(info.sample)} of them to the full budget ({duration(info.estimate)})."
        )
    overall = info.rates[0] if info.rates else None
    if overall is None or overall.rate is None:
        return f"The pruner audit has no finished rerun yet: resume with `{info.command}`."
    rate = overall.rate
    line = (
        f"Pruner audit: {overall.false_prunes} false prunes of {overall.audited} stopped trials "
        f"rerun to the full budget ({pct(rate.estimate)}, 95 % {pct(rate.low)} to "
        f"{pct(rate.high)})"
    )
    if info.cost is not None and info.cost > 0:
        word = "within noise" if info.within_noise else "beyond noise"
        line += f"; the best full run beats the study's best by {points(info.cost)} ({word})"
    return line + "."


def get_checks_info(confirmed: ConfirmedInfo | None, audit: AuditInfo | None) -> ChecksInfo:
    return ChecksInfo(_confirmed(confirmed), _audited(audit))


def draw_checks(info: ChecksInfo) -> Html:
    items = (CODE.sub(r"<code>\1</code>", esc(line)) for line in (info.confirmed, info.audited))
    return Html("<h3>Checked</h3><ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
