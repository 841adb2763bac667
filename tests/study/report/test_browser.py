"""The report in a real browser: Debian's Chromium, driven by Playwright, opens the file from
disk (no server, no network) and draws every section without a console error."""

from __future__ import annotations

import io

import pytest
from optuna.artifacts import FileSystemArtifactStore

from study.analysis.planted import Planted, planted_study
from study.report.publish import write_report
from study.report.sections import SECTIONS
from tests.helpers import CHROMIUM, require_chromium

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "artifacts").mkdir()
    store = FileSystemArtifactStore(tmp / "artifacts")
    url = f"sqlite:///{tmp / 'studies.db'}"
    study, _ = planted_study(
        Planted(), 40, storage=url, study_name=f"planted {SCRIPT}", store=store, prune_below=0.02
    )
    path = tmp / "report.html"
    write_report(study, study._storage, store, path, storage_url=url, out=io.StringIO())
    return path


def test_the_page_opens_from_disk_with_every_section_and_no_console_error(report, tmp_path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: errors.append(f"a dialog opened: {d.message}"))
        page.route("http*://**", lambda route: errors.append(route.request.url) or route.abort())
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        assert errors == []
        for section in SECTIONS:
            assert page.locator(f"section#{section.anchor} h2").inner_text() == section.title
        assert page.locator(".broken").count() == 0
        assert page.locator(".main-svg").count() > 3  # plotly drew the figures, as SVG
        assert SCRIPT in page.title()  # the study name shown as text, not run
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
        print(f"screenshot: {shot}")
        browser.close()


def column(page, index: int) -> list[str]:
    return page.locator(f"#trials-table tbody tr:visible td:nth-child({index})").all_inner_texts()


def top1s(cells: list[str]) -> list[float]:
    """The val top-1 cells as numbers (a trial without one sorts last, so it is left out)."""
    return [float(c.rstrip(" %")) for c in cells if c.strip() not in ("", "–")]


def test_the_trials_table_resorts_on_a_click_and_filters_by_state(report):
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(report.as_uri())
        headers = page.locator("#trials-table thead th").all_inner_texts()
        index = next(i for i, h in enumerate(headers, 1) if h.strip().startswith("val top-1"))
        numbers = [int(n.split()[0]) for n in column(page, 1)]  # "0 (baseline)"
        assert numbers == sorted(numbers)  # trial order first
        header = page.locator("#trials-table thead th").nth(index - 1)
        header.click()
        once = top1s(column(page, index))
        header.click()
        twice = top1s(column(page, index))
        assert once in (sorted(once), sorted(once, reverse=True))
        assert twice == once[::-1] and once != twice  # a second click reverses the order
        before = len(column(page, 1))
        page.locator("#trials-state").select_option("PRUNED")
        after = column(page, 2)
        assert 0 < len(after) < before and set(after) == {"PRUNED"}
        browser.close()
