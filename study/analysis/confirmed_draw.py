"""Drawing the "Confirmed on held-out test" section (its numbers: :mod:`confirmed`)."""

from __future__ import annotations

import math

from study.analysis.confirmed import ConfirmedInfo, ConfirmedRow
from study.analysis.findings import Interval
from study.analysis.markup import Html, bullets, esc, paragraph, pct, points, table


def _interval(i: Interval | None, runs: int) -> str:
    if i is None:
        return "not run yet"
    if not (math.isfinite(i.low) and math.isfinite(i.high)):
        return f"{pct(i.estimate)} (one run: no interval)"
    return f"{pct(i.estimate)} ({pct(i.low)} to {pct(i.high)})"


def _row(r: ConfirmedRow) -> tuple[object, ...]:
    split = (
        ""
        if r.selection is None or r.shift is None
        else f" (selection {points(r.selection)}, split {points(r.shift)})"
    )
    optimism = "" if r.optimism is None else points(r.optimism) + split
    like = "no val predictions"
    if r.search_like is not None and r.val_like is not None and r.like_shift is not None:
        like = (
            f"search {pct(r.search_like)}, reruns {pct(r.val_like.estimate)}: selection "
            f"{points(r.like_selection)}, split {points(r.like_shift)}"
        )
    elif r.val_like is not None and r.like_shift is not None:
        like = f"reruns {pct(r.val_like.estimate)}: split {points(r.like_shift)}"
    return (
        r.trial,
        r.role,
        pct(r.search_val),
        f"{r.runs}/{r.planned}",
        _interval(r.val, r.runs),
        _interval(r.test, r.runs),
        optimism or "not run yet",
        like if r.runs else "",
        *(pct(b) for b in r.buckets),
    )


def draw_confirmed(info: ConfirmedInfo) -> Html:
    if not info.confirmed:
        return paragraph(
            "Not confirmed yet: the test split has not been read. Run",
            Html(f"<code>{esc(info.command)}</code>"),
            "to rerun the top configurations and the baseline with fresh seeds (K x S runs of "
            "the full epoch budget; it prints the plan and its time first).",
        )
    header = (
        "trial",
        "role",
        "search val",
        "runs",
        "rerun val (95 %)",
        "test (95 %)",
        "optimism: search val - test",
        "val on the test's classes",
        *(f"test, {b}" for b in info.buckets),
    )
    lines = []
    if info.tau is not None:
        p = "" if info.tau_p is None else f", p = {info.tau_p:.2f}"
        lines.append(
            f"Kendall's tau between the search's val order and the test order: {info.tau:+.2f} "
            f"over {info.tau_configs} configurations{p} (1: the same order)."
        )
    for c in info.comparisons:
        word = "beyond noise" if c.beyond_noise else "not distinguishable from noise"
        lines.append(
            f"{c.label} (trial {c.a} - trial {c.b}) on the same {c.images:,} test images: "
            f"{points(c.difference)} ({points(c.low)} to {points(c.high)}), {word}."
        )
    parts = [
        paragraph(
            f"The top configurations by the search's val top-1 and the baseline, each rerun "
            f"with seeds {list(info.seeds)}; each run's epoch chosen on val by the search's "
            "rule, then the test split scored once at that epoch. Intervals are 95 %: val over "
            "seeds; test over seeds and the test images' sampling. Val also holds images of "
            "classes too rare for a test image, the hardest ones, so val against test mixes "
            "the selection's optimism with the two splits' classes; the column on the test's "
            "classes compares like with like."
        ),
        table(header, [_row(r) for r in info.rows], cls="confirmed"),
        bullets(lines) if lines else Html(""),
        Html(f"<p><strong>{esc(info.verdict)}</strong></p>"),
    ]
    if info.settle:
        parts.append(paragraph(info.settle))
    parts.append(
        paragraph(
            f"The test split: {info.test_images:,} images of {info.test_classes:,} of the "
            f"{info.classes:,} classes. Classes with fewer than 10 images have no test image "
            f"under the split rule ({info.thin_classes:,} classes have none here), so test "
            "top-1 says nothing about the rarest classes of the long tail."
        )
    )
    if info.notes:
        parts.append(bullets(info.notes))
    return Html("".join(parts))
