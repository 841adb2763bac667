"""The report's sections, top to bottom: each a pure ``get_*_info`` and a ``draw_*``.

The answer comes first on the page but is made of section 2's findings: it needs that section,
so the page builds section 2 first and the answer words the same object (never a second,
different estimate).
"""

from __future__ import annotations

import sys
from typing import Any

from study.analysis.answer import draw_answer, get_answer_info
from study.analysis.checks import draw_checks, get_checks_info
from study.analysis.confirmed import get_confirmed_info
from study.analysis.confirmed_draw import draw_confirmed
from study.analysis.cost import draw_cost, get_cost_info
from study.analysis.diagnostics import draw_diagnostics, get_diagnostics_info
from study.analysis.inputs import ReportInputs
from study.analysis.markup import Html
from study.analysis.mattered import draw_mattered, get_mattered_info
from study.analysis.measured import get_measured_info
from study.analysis.measured_draw import draw_measured
from study.analysis.tail import draw_tail, get_tail_info
from study.analysis.trials_table import draw_trials_table, get_trials_table_info
from study.analysis.views import draw_views, get_views_info
from study.report.page import Section

MATTERED = "mattered"
MEASURED = "measured"
CONFIRMED = "confirmed"
DIAGNOSTICS = "diagnostics"


def _progress(line: str) -> None:
    print(f"report:   {line}", file=sys.stdout, flush=True)


def _mattered(inputs: ReportInputs, infos: dict[str, Any]) -> tuple[Any, Html]:
    info = get_mattered_info(inputs, progress=_progress)
    return info, draw_mattered(info)


def _answer(inputs: ReportInputs, infos: dict[str, Any]) -> tuple[Any, Html]:
    # None when section 2 failed: the answer still shows the baseline, the split and the states.
    info = get_answer_info(inputs, infos.get(MATTERED), infos.get(MEASURED))
    diagnostics = infos.get(DIAGNOSTICS)
    checks = get_checks_info(infos.get(CONFIRMED), diagnostics.audit if diagnostics else None)
    return info, Html(draw_answer(info) + draw_checks(checks))


def _plain(get, draw):  # type: ignore[no-untyped-def]
    """A section that reads only the inputs."""

    def build(inputs: ReportInputs, infos: dict[str, Any]) -> tuple[Any, Html]:
        info = get(inputs)
        return info, draw(info)

    return build


SECTIONS: tuple[Section, ...] = (
    Section("answer", "The answer", _answer, needs=(MATTERED, MEASURED, CONFIRMED, DIAGNOSTICS)),
    Section(MATTERED, "What mattered, ranked", _mattered),
    Section(MEASURED, "Measured effects", _plain(get_measured_info, draw_measured)),
    Section(
        CONFIRMED,
        "Confirmed on held-out test",
        _plain(get_confirmed_info, draw_confirmed),
    ),
    Section(DIAGNOSTICS, "Overfitting diagnostics", _plain(get_diagnostics_info, draw_diagnostics)),
    Section("views", "Per-parameter views", _plain(get_views_info, draw_views)),
    Section("cost", "Size and cost", _plain(get_cost_info, draw_cost)),
    Section("tail", "The long tail", _plain(get_tail_info, draw_tail)),
    Section("trials", "All trials", _plain(get_trials_table_info, draw_trials_table)),
)
