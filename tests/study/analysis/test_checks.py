"""The answer's "Checked" lines, from the confirmation's and the audit's infos."""

from __future__ import annotations

import pytest

from study.analysis.audit import AuditInfo, Rate
from study.analysis.audit_sample import Sampled
from study.analysis.checks import draw_checks, get_checks_info
from study.analysis.confirmed import ConfirmedInfo, ConfirmedRow
from study.analysis.findings import Interval

ROW = ConfirmedRow(
    trial=3, role="winner", baseline=False, search_val=0.5, runs=3, planned=3,
    val=Interval(0.45, 0.4, 0.5), test=Interval(0.48, 0.4, 0.56), optimism=0.02,
    selection=0.05, shift=-0.03, search_like=0.52, val_like=Interval(0.47, 0.42, 0.52),
    like_selection=0.05, like_shift=-0.01, buckets=(),
)  # fmt: skip
CMD = "python -m study confirm --study s"


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (None, "could not be read"),
        (ConfirmedInfo("s", False, CMD), f"Not confirmed on held-out test yet: `{CMD}`"),
        (
            ConfirmedInfo("s", True, CMD, rows=(ROW,), verdict="The winner holds: x."),
            "On held-out test: The winner holds: x. The winner's search val minus its test "
            "top-1: +2.0 points; on the test's classes, selection +5.0 points and split -1.0 "
            "points.",
        ),
        (
            ConfirmedInfo("s", True, CMD, rows=(ROW,), verdict="V.", tau=0.5, tau_configs=6),
            "Kendall's tau between the val and the test order: +0.50 over 6 configurations.",
        ),
    ],
)
def test_the_confirmation_line(info, expected):
    assert expected in get_checks_info(info, None).confirmed


AUDIT = "python -m study audit-pruner --study s"


def rates(false: int, audited: int) -> tuple[Rate, ...]:
    return (Rate("all kinds", 4, 4, audited, false, Interval(false / audited, 0.0, 0.49), 1.0),)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (None, "could not be read"),
        (AuditInfo("s", 5, 0, False, command=AUDIT), "No trial was pruned or stopped early"),
        (
            AuditInfo(
                "s", 5, 4, False, sample=(Sampled(1, "floor", 10),) * 4, estimate=600.0,
                command=AUDIT,
            ),
            f"The pruner's 4 stops are not audited: `{AUDIT}` reruns 4 of them to the full "
            "budget (about 10 min).",
        ),
        (
            AuditInfo("s", 5, 4, True, rates=rates(0, 4), cost=0.0, command=AUDIT),
            "Pruner audit: 0 false prunes of 4 stopped trials rerun to the full budget (0.0 %, "
            "95 % 0.0 % to 49.0 %).",
        ),
        (
            AuditInfo("s", 5, 4, True, rates=rates(1, 4), cost=0.1, noise=0.02, command=AUDIT),
            "the best full run beats the study's best by +10.0 points (beyond noise).",
        ),
    ],
)  # fmt: skip
def test_the_audit_line(info, expected):
    assert expected in get_checks_info(None, info).audited


def test_the_draw_makes_commands_code_and_escapes():
    info = get_checks_info(
        ConfirmedInfo("<b>", False, "python -m study confirm --study '<b>'"), None
    )
    html = draw_checks(info)
    assert "<code>python -m study confirm --study &#x27;&lt;b&gt;&#x27;</code>" in html
    assert "<b>" not in html
