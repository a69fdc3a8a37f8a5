"""complianceReport: viewers only; typed summary fields agree with the full JSON report."""

from __future__ import annotations

from dr_assets.core.compliance import ReportPeriod, build_report
from dr_assets.core.runtime import DRRuntime
from tests.support.api import data, gql
from tests.support.stack import Stack

QUERY = """query($from: Date!, $to: Date!) { complianceReport(from: $from, to: $to) {
    periodFrom periodTo windowsTotal windowsCovered windowsMissed rpoCoveragePct
    verificationsFailed drills restores restoreRequests auditChainOk auditChainEntries
    restoresByRequester { requestedBy restores }
    apps { app windowsTotal windowsCovered windowsMissed windowsPending verificationsOk
           drillsWithinRto deletions alertsOpened restores }
    report } }"""
OCTOBER = {"from": "2026-10-01", "to": "2026-10-31"}


def test_compliance_report_needs_a_viewer_token(stack: Stack) -> None:
    body = gql(stack, QUERY, OCTOBER).json()
    assert body["data"] is None
    assert "needs the viewer role" in body["errors"][0]["message"]


def test_compliance_report_answers_viewers_with_the_same_numbers_as_the_core(stack: Stack) -> None:
    viewer = stack.token("viewer")
    answer = data(stack, QUERY, OCTOBER, viewer)["complianceReport"]
    rt = DRRuntime.load(str(stack.config_path))
    direct = build_report(rt.config, rt.catalog, ReportPeriod.parse("2026-10-01", "2026-10-31"))
    assert (answer["periodFrom"], answer["periodTo"]) == ("2026-10-01", "2026-10-31")
    [shop] = answer["apps"]
    # The stack's shop app has nothing in October (its backups are from today): every window
    # of the month is over and missed.
    assert shop == {"app": "shop", "windowsTotal": 124, "windowsCovered": 0, "windowsMissed": 124,
                    "windowsPending": 0, "verificationsOk": 0, "drillsWithinRto": 0,
                    "deletions": 0, "alertsOpened": 0, "restores": 0}
    assert answer["report"]["summary"] == direct.to_dict()["summary"]
    assert answer["report"]["totals"]["windows_missed"] == answer["windowsMissed"] == 124
    assert answer["auditChainOk"] is True and answer["auditChainEntries"] >= 0
    assert len(answer["report"]["apps"][0]["windows"]) == 124


def test_compliance_report_rejects_impossible_periods(stack: Stack) -> None:
    viewer = stack.token("viewer")
    for variables, needle in (
        ({"from": "2026-10-31", "to": "2026-10-01"}, "--from must be on or before --to"),
        ({"from": "2024-01-01", "to": "2026-10-31"}, "at most 366 days"),
        ({"from": "2026-10-32", "to": "2026-10-31"}, "Date"),
    ):
        body = gql(stack, QUERY, variables, viewer).json()
        assert body.get("data") is None and needle in body["errors"][0]["message"], body
