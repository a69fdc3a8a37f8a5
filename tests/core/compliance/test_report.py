"""The compliance report over a synthetic month in a real catalog: exactly the expected
windows, counts, deletions and restores-by-whom in HTML, JSON and CSV; `drctl report`."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from dr_assets.core.compliance import ReportPeriod, build_report, render_report
from dr_assets.core.health.trend_charts import NO_QUOTA
from dr_assets.core.statuses import WindowStatus
from tests.support.browser import Browser, visible_text
from tests.support.charts import drawn_charts
from tests.support.compliance_month import (
    AUDIT_ENTRIES,
    EXPECTED_SUMMARY,
    LEDGER_MISSED,
    RESTORE_REQUESTS,
    RESTORES_BY_REQUESTER,
    SHOP_DELETED_COVERING,
    SHOP_MISSED,
    at,
    seed_october,
    tamper_audit,
    two_apps,
)
from tests.support.env import DREnv

OCTOBER = ReportPeriod.parse("2026-10-01", "2026-10-31")


@pytest.fixture
def october(dr_env: DREnv) -> DREnv:
    env = two_apps(dr_env)
    seed_october(env.catalog_db)
    return env


def test_report_has_exactly_the_expected_windows_and_evidence(october: DREnv) -> None:
    rt = october.runtime()
    report = build_report(rt.config, rt.catalog, OCTOBER)
    assert {a.app: a.summary() for a in report.apps} == EXPECTED_SUMMARY
    shop, ledger = report.apps
    missed = {w.start: w.note for w in shop.windows if w.status == WindowStatus.MISSED}
    assert set(missed) == set(SHOP_MISSED)
    assert missed[at(3, 6)] is None
    assert "failed: pg_dump: connection refused" in (missed[at(10, 12)] or "")
    assert "failed its checksum verification" in (missed[at(15, 18)] or "")
    assert "was never verified" in (missed[at(20, 0)] or "")
    covering = next(w for w in shop.windows if w.start == SHOP_DELETED_COVERING)
    assert covering.status == WindowStatus.COVERED and covering.backup_id is not None
    assert [w.start for w in ledger.windows if w.status == WindowStatus.MISSED] == [LEDGER_MISSED]
    assert sorted((f.backup_id[:4], f.destination) for f in shop.verification_failures) == [
        ("shop", "local"), ("shop", "local"), ("shop", "s3")]
    assert [(d.status, d.rto_met) for d in shop.drills] == [
        ("passed", True), ("passed", False), ("failed", None)]
    assert [(d.deleted_at, d.reason) for d in shop.deletions] == [
        (at(2, 2, 30), "retention: beyond the 90-day window"),
        (at(28, 2), "retention: beyond the 90-day window")]
    assert covering.backup_id in {d.backup_id for d in shop.deletions}
    assert [(a.kind, a.resolved_at is not None) for a in shop.alerts] == [
        ("backup_failed", True), ("rpo_violated", True), ("health_low", False)]
    assert [(a.app, a.kind) for a in report.estate_alerts] == [("*", "storage_quota")]
    assert [r.requested_by for r in shop.restores] == ["alice", "drctl", "alice"]
    assert report.restores_by_requester == RESTORES_BY_REQUESTER
    assert [(q.actor, q.role, q.result) for q in report.restore_requests] == RESTORE_REQUESTS
    assert report.restore_requests[0].target_database == "shop_check"
    assert report.audit_chain.ok and report.audit_chain.entries == AUDIT_ENTRIES


def test_windows_still_open_are_pending_and_future_ones_absent(october: DREnv) -> None:
    rt = october.runtime()
    report = build_report(rt.config, rt.catalog, OCTOBER, now=at(31, 13))
    shop, ledger = report.apps
    assert len(shop.windows) == 123 and shop.windows_pending == 0  # 12:05 backup covers 12:00
    assert ledger.windows[-1].start == LEDGER_MISSED and ledger.windows[-1].status == WindowStatus.PENDING
    assert (ledger.windows_missed, ledger.windows_pending) == (0, 1)


def test_json_csv_and_html_present_the_same_evidence(october: DREnv) -> None:
    rt = october.runtime()
    report = build_report(rt.config, rt.catalog, OCTOBER)

    doc = json.loads(render_report(report, "json"))
    assert doc["period"] == {"from": "2026-10-01", "to": "2026-10-31",
                             "start": "2026-10-01T00:00:00+00:00",
                             "end": "2026-11-01T00:00:00+00:00"}
    assert {s["app"]: s for s in doc["summary"]} == EXPECTED_SUMMARY
    shop = doc["apps"][0]
    assert Counter(w["status"] for w in shop["windows"]) == {"covered": 120, "missed": 4}
    assert doc["restores_by_requester"] == RESTORES_BY_REQUESTER
    assert [r["actor"] for r in doc["restore_requests"]] == ["alice", "bob"]
    assert doc["audit_chain"] == {"ok": True, "entries": AUDIT_ENTRIES, "first_bad_id": None,
                                  "problem": None}
    assert len(shop["deletions"]) == 2 and len(shop["verification_failures"]) == 3

    rows = list(csv.DictReader(io.StringIO(render_report(report, "csv"))))
    windows = Counter((r["app"], r["outcome"]) for r in rows if r["section"] == "backup_window")
    assert windows == {("shop", "covered"): 120, ("shop", "missed"): 4,
                       ("ledger", "covered"): 61, ("ledger", "missed"): 1}
    summary = {(r["app"], r["ref"]): r["measured"] for r in rows if r["section"] == "summary"}
    assert summary[("shop", "windows_covered")] == "120"
    assert summary[("ledger", "rpo_coverage_pct")] == "98.4"
    assert [r["ref"][:4] for r in rows if r["section"] == "deletion"] == ["shop", "shop"]
    assert Counter(r["actor"] for r in rows if r["section"] == "restore") == RESTORES_BY_REQUESTER
    assert [r["actor"] for r in rows if r["section"] == "restore_request"] == [
        "alice (admin)", "bob (viewer)"]
    assert [r["outcome"] for r in rows if r["section"] == "audit_chain"] == ["intact"]
    assert len([r for r in rows if r["section"] == "verification_failure"]) == 3

    page = render_report(report, "html")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no external assets
    summary_table = page[page.index('id="summary"'):page.index('class="app"')]
    for app, covered, missed in (("shop", "120 / 124", 4), ("ledger", "61 / 62", 1)):
        assert re.search(rf'>{app}</a></td><td>{covered}</td><td>{missed}</td>', summary_table)
    assert "Audit log hash chain intact: 4 entries verified" in page
    assert page.count("<rect") == 124 + 62  # one cell per window in the coverage strips


def test_every_format_says_which_kind_of_drill_proved_each_app(october: DREnv) -> None:
    rt = october.runtime()
    report = build_report(rt.config, rt.catalog, OCTOBER)
    shop, ledger = report.apps
    isolated = "isolated (empty PostgreSQL 15 server)"
    assert [d.kind for d in shop.drills] == [isolated, "same server", "same server"]
    assert (shop.proved_by, ledger.proved_by) == (isolated, None)

    drills = json.loads(render_report(report, "json"))["apps"][0]["drills"]
    assert [(d["target"], d["server_version"], d["instance_start_seconds"]) for d in drills] == [
        ("isolated", "15.6", 1.5), ("same_server", None, None), ("same_server", None, None)]

    rows = list(csv.DictReader(io.StringIO(render_report(report, "csv"))))
    assert [r["detail"] for r in rows if r["section"] == "drill"] == [
        f"{isolated}: within RTO", "same server: over RTO", "same server: no good copy of shop-x"]
    assert {r["app"]: r["measured"] for r in rows
            if r["section"] == "summary" and r["ref"] == "proved_by"} == {
        "shop": isolated, "ledger": ""}

    page = render_report(report, "html")
    assert f"1 of 3 within the RTO, proved by {isolated}</h3>" in page
    summary = page[page.index('id="summary"'):page.index('class="app"')]
    for app, proof in (("shop", isolated), ("ledger", "none")):
        row = re.search(rf">{app}</a></td>(.*?)</tr>", summary)
        assert row and re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))[5] == proof


def test_a_tampered_audit_log_shows_in_the_report(october: DREnv) -> None:
    tamper_audit(october.catalog_db)
    rt = october.runtime()
    report = build_report(rt.config, rt.catalog, OCTOBER)
    assert not report.audit_chain.ok and "altered" in (report.audit_chain.problem or "")
    assert "Audit log hash chain BROKEN" in render_report(report, "html")


def test_html_report_renders_in_chromium(october: DREnv, browser: Browser,
                                         screenshot_dir: Path) -> None:
    rt = october.runtime()
    page = october.root / "report-2026-10.html"
    page.write_text(render_report(build_report(rt.config, rt.catalog, OCTOBER), "html"))
    shot = browser.screenshot(page.as_uri(), screenshot_dir / "compliance-report-2026-10.png")
    assert shot.width == 1280 and shot.height == 1000 and shot.bytes > 20_000
    text = browser.text(page.as_uri())
    for needle in ("Disaster-recovery compliance evidence", "Summary per application",
                   "120 / 124", "61 / 62", "96.8 %", "Audit log hash chain intact",
                   "Restores performed, by requester", "alice"):
        assert needle in text, needle


def test_html_report_draws_the_trends_in_chromium(october: DREnv, browser: Browser) -> None:
    rt = october.runtime()
    report = build_report(rt.config, rt.catalog, OCTOBER)
    page = october.root / "report-trends-2026-10.html"
    page.write_text(render_report(report, "html"))
    dom = browser.dom(page.as_uri())
    assert "Trends" in visible_text(dom)
    charts = drawn_charts(dom)
    assert set(charts) == {("restore-time", "shop"), ("backup-sizes", "shop"),
                           ("restore-time", "ledger"), ("backup-sizes", "ledger"),
                           ("storage", "estate")}
    shop, ledger = report.apps
    restore = charts["restore-time", "shop"]
    assert restore.attrs["role"] == "img" and restore.title == "shop: drill restore time"
    assert restore.attrs["aria-label"].startswith("shop: drill restore time: 2 points")
    assert restore.attrs["data-limit"] == "14400"
    assert [v for _, v in restore.values] == [d.restore_seconds for d in shop.drills
                                              if d.restore_seconds is not None]
    sizes = charts["backup-sizes", "ledger"]
    assert len(sizes.points) == ledger.windows_covered == 61
    assert {p["data-value"] for p in sizes.points} == {"1000"}
    storage = charts["storage", "estate"]
    assert len(storage.points) == 31 and "data-limit" not in storage.attrs
    assert NO_QUOTA in storage.attrs["aria-label"]


def test_drctl_report_writes_every_format(october: DREnv, tmp_path: Path) -> None:
    out = october.drctl("report", "--from", "2026-10-01", "--to", "2026-10-31", "--format", "csv")
    assert next(csv.DictReader(io.StringIO(out.stdout)))["section"] == "period"
    doc = json.loads(october.drctl("report", "--from", "2026-10-01", "--to", "2026-10-31",
                                   "--json").stdout)
    assert {s["app"]: s for s in doc["summary"]} == EXPECTED_SUMMARY
    target = tmp_path / "october.html"
    done = october.drctl("report", "--from", "2026-10-01", "--to", "2026-10-31",
                         "--output", str(target))
    assert "wrote the html compliance report" in done.stdout and "181 of 186" in done.stdout
    assert target.read_text().startswith("<!DOCTYPE html>")
    summary = json.loads(october.drctl("report", "--from", "2026-10-01", "--to", "2026-10-31",
                                       "--output", str(tmp_path / "october.csv"),
                                       "--json").stdout)
    assert summary["format"] == "csv" and summary["totals"]["windows_missed"] == 5
    assert (tmp_path / "october.csv").read_text().startswith("section,app,start")


def test_drctl_report_errors(dr_env: DREnv, tmp_path: Path) -> None:
    cases = {
        ("--from", "2026-10-32", "--to", "2026-10-31"): "--from '2026-10-32' is not a date",
        ("--from", "2026-10-01", "--to", "yesterday"): "--to 'yesterday' is not a date",
        ("--from", "2026-10-31", "--to", "2026-10-01"): "--from must be on or before --to",
        ("--from", "2026-10-01", "--to", "2026-10-31", "--output",
         str(tmp_path / "missing" / "r.html")): "cannot write",
        ("--from", "2026-10-01", "--to", "2026-10-31", "--json", "--format", "csv"):
            "drop one of them",
    }
    for args, needle in cases.items():
        proc = dr_env.drctl("report", *args, check=False)
        assert proc.returncode == 1, (args, proc.stderr)
        assert proc.stderr.startswith("drctl: ") and needle in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""
    assert dr_env.drctl("report", "--from", "2026-10-01", check=False).returncode == 2
    proc = dr_env.drctl("report", "--from", "2026-10-01", "--to", "2026-10-31", "--format",
                        "pdf", check=False)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    assert not (tmp_path / "missing").exists()
