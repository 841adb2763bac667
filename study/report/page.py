"""The report page: every section's fragment, in order, in one self-contained HTML file.

plotly.js is embedded once, in the head; each figure is a ``<div>`` drawn by it, so the file
opens from disk with no network. A section that raises is replaced by a box naming the error:
one broken section must not cost the reader the rest of the page.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from plotly.offline import get_plotlyjs

from study.analysis.inputs import ReportInputs
from study.analysis.markup import Html, esc


@dataclass(frozen=True)
class Section:
    """One section: its anchor, its title, and how to build its fragment from the inputs and
    the infos of the sections built before it (by anchor)."""

    anchor: str
    title: str
    build: Callable[[ReportInputs, dict[str, Any]], tuple[Any, Html]]  # -> (info, fragment)
    needs: tuple[str, ...] = ()  # anchors of sections whose infos it reads: built before it


def build_order(sections: Sequence[Section]) -> list[Section]:
    """``sections`` in an order that builds every section after the ones it needs (the page
    still shows them in their own order)."""
    by_anchor = {s.anchor: s for s in sections}
    order: list[Section] = []

    def visit(section: Section, path: tuple[str, ...]) -> None:
        if section in order:
            return
        if section.anchor in path:
            raise ValueError(f"sections need each other: {' -> '.join((*path, section.anchor))}")
        for anchor in section.needs:
            if anchor not in by_anchor:
                raise ValueError(f"section {section.anchor!r} needs {anchor!r}, not on the page")
            visit(by_anchor[anchor], (*path, section.anchor))
        order.append(section)

    for section in sections:
        visit(section, ())
    return order


STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2430}
main{max-width:1180px;margin:0 auto;padding:0 24px 64px}
header{background:#1d2430;color:#fff;padding:18px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d1dc}nav{position:sticky;top:0;background:#f4f6f9;
padding:8px 24px;border-bottom:1px solid #dde2ea;z-index:10}nav a{margin-right:16px;
color:#234;text-decoration:none;font-size:14px}section{margin-top:36px}
h2{border-bottom:2px solid #1d2430;padding-bottom:4px}table{border-collapse:collapse;
margin:10px 0;font-size:13.5px}th,td{border:1px solid #dde2ea;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f4f6f9}.verdict{background:#fff8e1;border-left:4px solid
#f0b400;padding:8px 12px}.beyond{background:#e8f5e9;border-left:4px solid #2e7d32;
padding:8px 12px}.broken{background:#fdecea;border-left:4px solid #c62828;padding:8px 12px}
.muted{color:#5b6675}code{background:#f4f6f9;padding:1px 4px;border-radius:3px}
"""


def build_page(
    inputs: ReportInputs,
    sections: Sequence[Section],
    *,
    out: TextIO | None = None,
    timings: dict[str, float] | None = None,
) -> str:
    """The whole HTML page; one progress line per section on ``out`` (None: silent).

    ``timings`` (if given) receives each section's seconds, by anchor (the benchmark's figures).
    """
    infos: dict[str, Any] = {}
    fragments: dict[str, str] = {}
    for i, section in enumerate(build_order(sections), 1):
        if out is not None:
            print(f"report: [{i}/{len(sections)}] {section.title}...", file=out, flush=True)
        start = time.perf_counter()
        try:
            infos[section.anchor], fragment = section.build(inputs, infos)
        except Exception as e:  # one broken section must not cost the rest of the page
            infos[section.anchor] = None
            fragment = Html(
                f'<p class="broken">This section could not be built: '
                f"{esc(type(e).__name__)}: {esc(e)}</p>"
            )
            print(f"warning: report section {section.title!r}: {e!r}", file=sys.stderr)
        if timings is not None:
            timings[section.anchor] = time.perf_counter() - start
        fragments[section.anchor] = (
            f'<section id="{esc(section.anchor)}"><h2>{esc(section.title)}</h2>{fragment}</section>'
        )
    parts = [fragments[s.anchor] for s in sections]
    nav = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    name = esc(inputs.study_name)
    finished = int((inputs.frame["state"] == "COMPLETE").sum()) if len(inputs.frame) else 0
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>study {name}: report</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<header><h1>Study {name}: which fixes matter, and how sure we are</h1>"
        f"<p>{len(inputs.frame)} trials, {finished} complete. Every effect comes with its "
        "95 % interval; one that includes zero is called not distinguishable from noise.</p>"
        f"</header><nav>{nav}</nav><main>{''.join(parts)}</main></body></html>\n"
    )
