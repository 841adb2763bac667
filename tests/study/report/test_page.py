"""The page: every section in order, plotly.js once, a broken section boxed, names escaped."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from study.analysis.inputs import ReportInputs
from study.analysis.markup import Html, paragraph
from study.report.page import Section, build_order, build_page

SCRIPT = "<script>alert(1)</script>"


def ok(inputs, infos):
    return {"trials": len(inputs.frame)}, paragraph(f"{len(inputs.frame)} trials")


def second(inputs, infos):
    # A later section reads an earlier one's info.
    return None, Html(f"<p>first said {infos['first']['trials']}</p>")


def broken(inputs, infos):
    raise RuntimeError(f"no {SCRIPT}")


SECTIONS = (
    Section("first", "First", ok),
    Section("broken", "Broken", broken),
    Section("second", "Second <b>", second),
)


def frame(states):
    return pd.DataFrame({"state": pd.Series(states, dtype="string")})


def test_the_page_holds_every_section_in_order_and_plotlyjs_once(capsys):
    out, timings = io.StringIO(), {}
    inputs = ReportInputs(study_name=SCRIPT, frame=frame(["COMPLETE", "PRUNED"]))
    page = build_page(inputs, SECTIONS, out=out, timings=timings)
    assert page.count(get_plotlyjs()[:200]) == 1
    positions = [page.index(f'<section id="{a}">') for a in ("first", "broken", "second")]
    assert positions == sorted(positions)
    assert "<p>2 trials</p>" in page and "<p>first said 2</p>" in page
    assert '<p class="broken">This section could not be built: RuntimeError' in page
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Second &lt;b&gt;" in page and "2 trials, 1 complete" in page
    assert out.getvalue().splitlines() == [
        "report: [1/3] First...",
        "report: [2/3] Broken...",
        "report: [3/3] Second <b>...",
    ]
    assert set(timings) == {"first", "broken", "second"}
    assert "report section 'Broken'" in capsys.readouterr().err


def test_the_page_needs_no_network():
    page = build_page(ReportInputs(study_name="s", frame=frame([])), SECTIONS[:1])
    ours = page.replace(get_plotlyjs(), "")  # plotly.js itself names URLs in its messages
    assert "http" not in ours and "src=" not in ours


def test_a_section_is_built_after_the_ones_it_needs_and_shown_in_its_place():
    out = io.StringIO()
    sections = (
        Section("second", "Second", second, needs=("first",)),
        Section("first", "First", ok),
    )
    page = build_page(ReportInputs(study_name="s", frame=frame(["COMPLETE"])), sections, out=out)
    assert page.index('<section id="second">') < page.index('<section id="first">')
    assert "<p>first said 1</p>" in page
    assert out.getvalue().splitlines() == ["report: [1/2] First...", "report: [2/2] Second..."]


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ((Section("a", "A", ok, needs=("b",)),), "needs 'b', not on the page"),
        (
            (Section("a", "A", ok, needs=("b",)), Section("b", "B", ok, needs=("a",))),
            "sections need each other: a -> b -> a",
        ),
    ],
)
def test_impossible_needs_are_value_errors(sections, message):
    with pytest.raises(ValueError, match=message):
        build_order(sections)
