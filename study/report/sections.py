"""The report's sections, top to bottom: each a pure ``get_*_info`` and a ``draw_*``."""

from __future__ import annotations

from study.report.page import Section

SECTIONS: tuple[Section, ...] = ()
