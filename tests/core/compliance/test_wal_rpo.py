"""A protected app's RPO compliance is measured from its server's WAL over the period, and
the report says so; an app without a server is judged by its backup windows as before."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from dr_assets.core.access.audit_chain import ChainReport
from dr_assets.core.compliance.assemble import EvidenceRows, assemble_report
from dr_assets.core.compliance.period import ReportPeriod
from dr_assets.core.compliance.render_html import render_html
from dr_assets.core.policy import AppPolicy

PERIOD = ReportPeriod.parse("2026-10-01", "2026-10-31")
NOW = datetime(2026, 11, 5, tzinfo=UTC)
DUMPS = AppPolicy("ledger", "postgresql://x@h/ledger", rto_hours=4, rpo_hours=1, every_hours=6,
                  retention_days=90, critical=True)
WAL = replace(DUMPS, name="shop", server="main")


def rows(receipts: list[datetime]) -> EvidenceRows:
    return EvidenceRows(backups=(), verifications=(), drills=(), deletions=(), alerts=(),
                        restores=(), restore_requests=(), audit_chain=ChainReport(0, True),
                        wal_receipts={"main": receipts})


def every(minutes: int, start: datetime, end: datetime) -> list[datetime]:
    out, at = [], start
    while at < end:
        out.append(at)
        at += timedelta(minutes=minutes)
    return out


def test_wal_every_ten_minutes_meets_an_hour_and_a_gap_does_not() -> None:
    steady = every(10, PERIOD.start - timedelta(minutes=5), PERIOD.end)
    report = assemble_report([WAL, DUMPS], rows(steady), PERIOD, NOW)
    shop, ledger = report.apps
    assert shop.summary()["protection"] == "wal" and shop.summary()["wal_rpo_met"] is True
    assert shop.wal_rpo is not None and shop.wal_rpo.longest_gap_seconds == 600
    assert ledger.summary()["protection"] == "dumps" and ledger.wal_rpo is None
    assert ledger.summary()["wal_rpo_met"] is None  # judged by its windows, as before

    outage = [t for t in steady if not datetime(2026, 10, 9, 3, tzinfo=UTC) < t
              < datetime(2026, 10, 9, 5, 30, tzinfo=UTC)]
    shop = assemble_report([WAL], rows(outage), PERIOD, NOW).apps[0]
    assert shop.wal_rpo is not None and not shop.wal_rpo.met
    assert shop.wal_rpo.longest_gap_seconds == 9600  # 02:55 .. 05:35
    html = render_html(assemble_report([WAL], rows(outage), PERIOD, NOW))
    assert "WAL: longest gap 9600 s" in html and "RPO measured from" in html


def test_no_wal_at_all_is_not_compliance_and_wal_stopping_counts_up_to_now() -> None:
    assert not assemble_report([WAL], rows([]), PERIOD, NOW).apps[0].wal_rpo.met  # type: ignore[union-attr]
    # WAL stopped on the 30th: the stretch runs to the period's end
    stopped = every(10, PERIOD.start, datetime(2026, 10, 30, tzinfo=UTC))
    shop = assemble_report([WAL], rows(stopped), PERIOD, NOW).apps[0]
    assert shop.wal_rpo is not None
    assert shop.wal_rpo.longest_gap_seconds == (PERIOD.end - stopped[-1]).total_seconds()
