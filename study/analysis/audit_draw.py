"""The pruner audit as HTML (:func:`draw_audit`), under "The pruner's bias, as measured"."""

from __future__ import annotations

from study.analysis.audit import NOISE_SES, AuditInfo, Rate
from study.analysis.markup import Html, bullets, esc, paragraph, pct, points, table


def duration(seconds: float | None) -> str:
    """Seconds in words: "about 12 min", "about 3.4 h"."""
    if seconds is None:
        return "time unknown: no trial recorded its seconds"
    minutes = seconds / 60
    if minutes < 1:
        return "under a minute"
    return f"about {minutes:.0f} min" if minutes < 120 else f"about {minutes / 60:.1f} h"


def _rate(r: Rate) -> str:
    if r.rate is None:
        return "–"
    return f"{pct(r.rate.estimate)} ({pct(r.rate.low)} to {pct(r.rate.high)})"


def _rates(info: AuditInfo) -> Html:
    rows = [
        (r.kind, f"{r.audited} / {r.stopped}", pct(r.sampled_share), r.false_prunes, _rate(r))
        for r in info.rates
    ]
    header = ("decision", "audited / stopped", "sampled", "false prunes", "false-prune rate (95 %)")
    parts = [table(header, rows, cls="audit-rates")]
    shares = {r.sampled_share for r in info.rates[1:]}
    if len(shares) > 1:
        parts.append(
            paragraph(
                "The kinds were sampled at different fractions, so the overall rate is the "
                "sample's, not the study's: read it kind by kind."
            )
        )
    return Html("".join(parts))


def _false_prunes(info: AuditInfo) -> Html:
    found = info.false_prunes
    if not found:
        judged = sum(t.false_prune is not None for t in info.trials)
        return paragraph(f"None of the {judged} audited trials would have finished in the top K.")
    rows = [
        (
            f"#{t.trial}",
            t.kind,
            f"epoch {t.stopped_epoch}: {pct(t.stopped_value)}",
            pct(t.full_value),
            f"{t.rank} (top {t.k} above {pct(t.threshold)})",
            "–" if t.overtook_epoch is None else t.overtook_epoch,
            "–" if t.top_epoch is None else t.top_epoch,
        )
        for t in found
    ]
    header = ("trial", "decision", "stopped at", "full run", "would rank")
    header += ("overtook its stopped value at epoch", "entered the top K at epoch")
    return table(header, rows, cls="audit-false-prunes")


def _compute(info: AuditInfo) -> Html:
    c = info.compute
    if c is None:
        return Html("")
    whole = c.spent_seconds + c.saved_seconds
    share = f" ({pct(c.saved_seconds / whole)} of the study unpruned)" if whole else ""
    text = (
        f"Compute the pruner saved, over the {c.counted} stopped trials: "
        f"{duration(c.saved_seconds)} of training not run{share}, against "
        f"{duration(c.spent_seconds)} spent on every trial."
    )
    if c.unknown:
        text += f" {c.unknown} stopped trials without their epoch counts are not counted."
    return paragraph(text)


def _cost(info: AuditInfo) -> Html:
    if info.cost is None:
        return Html("")
    noise = f"a val top-1's noise floor (one standard error) is {points(info.noise, sign=False)}"
    if info.cost <= 0:
        return paragraph(
            f"No full run beat the study's best ({pct(info.best_value)}): among the audited "
            f"trials the pruner cost no result ({noise})."
        )
    if info.within_noise is None:
        verdict = "the val split's size is unknown, so its noise is too"
    elif info.within_noise:
        verdict = "not distinguishable from noise in this study "
        verdict += f"({noise}; the cost is within {NOISE_SES:g} of them)"
    else:
        verdict = f"beyond the noise ({noise}; the cost is more than {NOISE_SES:g} of them)"
    return paragraph(
        f"The best full run reached {pct(info.best_full)} against the study's best of "
        f"{pct(info.best_value)}: the pruner may have cost {points(info.cost)}, {verdict}."
    )


def _not_audited(info: AuditInfo) -> Html:
    kinds = [f"{r.kind}: {r.sampled} of {r.stopped}" for r in info.rates[1:]]
    return Html(
        f"<p>Not audited yet: run <code>{esc(info.command)}</code> "
        f"({esc(duration(info.estimate))}). It reruns {len(info.sample)} of the "
        f"{info.stopped} stopped trials to their full epoch budget, as trials of a linked study "
        f"(stratified by decision kind: {esc('; '.join(kinds))}), and finds the ones that would "
        f"have finished in the top {info.top} of the completed trials.</p>"
    )


def draw_audit(info: AuditInfo) -> Html:
    """The audit: rates, false prunes, compute saved and the best it may have cost; or the
    command that would make it, with its estimated time."""
    if not info.stopped:
        return paragraph(*info.notes)
    parts = [Html("<h4>What the pruner threw away: the audit</h4>")]
    if not info.audited:
        parts += [_not_audited(info), _compute(info)]
        return Html("".join(parts))
    parts.append(
        paragraph(
            f"Each audited trial was rerun to its full epoch budget; a false prune is one whose "
            f"full run would finish in the top {info.top} of the study's other completed trials "
            "(strictly above the K-th best)."
        )
    )
    parts += [_rates(info), _false_prunes(info), _compute(info), _cost(info)]
    if info.notes:
        parts.append(bullets(info.notes))
    return Html("".join(parts))
