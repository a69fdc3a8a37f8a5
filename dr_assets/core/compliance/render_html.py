"""The compliance report as one self-contained HTML file: inline CSS and SVG, no scripts,
no external assets; the per-app summary comes first."""

from __future__ import annotations

from html import escape

from dr_assets.core.charts.svg import render_trend_svg
from dr_assets.core.compliance.capacity import capacity_section
from dr_assets.core.compliance.coverage_svg import coverage_strip
from dr_assets.core.compliance.html_parts import Raw, badge, duration, hours, table, text, when
from dr_assets.core.compliance.report import AlertEvidence, AppEvidence, ComplianceReport
from dr_assets.core.statuses import WindowStatus

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c2430;
  margin:0;background:#f4f6f9}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid #dde3ea;
  padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px;color:#34404f}
.period{color:#4a5868;margin:0 0 12px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #dde3ea;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef2f6;font-weight:600}td.num,th.num{text-align:right}
table.summary td:nth-child(n+2){text-align:right}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.badge.ok{background:#e3f3e5;color:#1b5e20}.badge.bad{background:#fde4e4;color:#b71c1c}
.badge.na{background:#eceff1;color:#455a64}
.chain{padding:10px 14px;border-radius:6px;font-weight:600;margin:12px 0}
.chain.ok{background:#e3f3e5;color:#1b5e20}.chain.bad{background:#fde4e4;color:#b71c1c}
.strip{width:100%;height:22px;display:block;margin:6px 0 2px;border:1px solid #dde3ea}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
.trends{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px}
.trends figure{margin:0;border:1px solid #dde3ea;border-radius:8px;padding:8px}
.trends svg{width:100%;height:auto;display:block}
.none{color:#5f6b7a;font-style:italic;margin:4px 0}
.totals{color:#34404f}details summary{cursor:pointer;color:#1d4f91;margin:6px 0}
footer{margin-top:36px;color:#5f6b7a;font-size:12px}
"""


def render_html(report: ComplianceReport) -> str:
    p = report.period
    title = f"DR compliance evidence {p.first_day} to {p.last_day}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>",
        "<header><h1>Disaster-recovery compliance evidence</h1>",
        f'<p class="period">Period {p.first_day} to {p.last_day} (UTC, both days included) '
        f"&middot; generated {escape(when(report.generated_at))}</p>",
        _chain(report, "audit-chain"), "</header>",
        _summary(report),
        *(_app_section(a) for a in report.apps),
        _trends(report),
        _estate(report),
        capacity_section(report.capacity),
        "<footer>A backup window is <b>covered</b> when a backup that passed a SHA-256 checksum "
        "verification of a stored copy started inside it (so the RPO was met for that window); "
        "<b>missed</b> when the window is over without one; <b>pending</b> while it is still "
        "open. A backup retention deleted later still counts for the window it covered. "
        "Drills are timed restores of the newest verified backup into a scratch database, "
        "compared with the RTO: an <b>isolated</b> drill restores onto an empty PostgreSQL "
        "server of the backup's major version started for the drill (as after losing the "
        "whole server; its start-up is not counted), a <b>same server</b> drill beside the "
        "app's own database, where the roles and settings it needs already exist.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _chain(report: ComplianceReport, anchor: str = "") -> str:
    c = report.audit_chain
    ident = f' id="{anchor}"' if anchor else ""
    if c.ok:
        return (f'<p class="chain ok"{ident}>Audit log hash chain intact: '
                f"{c.entries} entries verified</p>")
    return (f'<p class="chain bad"{ident}>Audit log hash chain BROKEN at entry '
            f"{text(c.first_bad_id)}: {text(c.problem)}</p>")


def _summary(report: ComplianceReport) -> str:
    rows = []
    for a in report.apps:
        pct = a.rpo_coverage_pct
        rows.append([
            Raw(f'<a href="#app-{escape(a.app)}">{escape(a.app)}</a>'),
            f"{a.windows_covered} / {a.windows_covered + a.windows_missed}",
            a.windows_missed,
            _wal_badge(a) if a.wal_rpo is not None else
            badge("n/a" if pct is None else f"{pct:g} %", None if pct is None else pct == 100),
            f"{a.verifications_ok} / {a.verifications_failed}",
            f"{a.drills_within_rto} / {len(a.drills)}",
            a.proved_by or "none",
            len(a.deletions),
            f"{a.alerts_opened} / {a.alerts_resolved}",
            len(a.restores),
        ])
    t = report.totals()
    return "".join([
        '<section id="summary"><h2>Summary per application</h2>',
        table(["Application", "Windows covered", "Missed", "RPO coverage",
               "Checksum checks ok / failed", "Drills within RTO / run", "Proved by",
               "Deletions",
               "Alerts opened / resolved", "Restores"], rows,
              "No applications are configured.", "summary"),
        f'<p class="totals">Estate: {t["windows_covered"]} of '
        f'{t["windows_covered"] + t["windows_missed"]} finished windows covered, '
        f'{t["verifications_failed"]} failed checksum checks, {t["drills_within_rto"]} of '
        f'{t["drills"]} drills within RTO, {t["restores"]} restores, '
        f'{t["restore_requests"]} restore requests in the audit log.</p></section>',
    ])


def _wal_badge(a: AppEvidence) -> Raw:
    """A protected app's RPO column: measured from its server's WAL, and saying so."""
    w = a.wal_rpo
    assert w is not None
    gap = w.longest_gap_seconds
    return badge("WAL: none held" if gap is None else f"WAL: longest gap {gap:.0f} s",
                 w.met)


def _app_section(a: AppEvidence) -> str:
    missed = [w for w in a.windows if w.status == WindowStatus.MISSED]
    policy = (f"backup every {hours(a.every_hours)}, RPO {hours(a.rpo_hours)}, "
              f"RTO {hours(a.rto_hours)}{', critical' if a.critical else ''}")
    if a.wal_rpo is not None:
        gap = a.wal_rpo.longest_gap_seconds
        policy += (f"; continuous protection by server {a.wal_rpo.server}'s WAL: RPO measured "
                   f"from {a.wal_rpo.receipts} WAL files, longest gap "
                   f"{'(no WAL held)' if gap is None else f'{gap:.0f} s'}"
                   f" ({'within' if a.wal_rpo.met else 'OVER'} the RPO)")
    return "".join([
        f'<section class="app" id="app-{escape(a.app)}"><h2>{escape(a.app)}</h2>',
        f'<p class="period">{escape(policy)}</p>',
        f"<h3>Backup windows: {a.windows_covered} covered, {a.windows_missed} missed, "
        f"{a.windows_pending} pending</h3>",
        coverage_strip(a.app, a.windows),
        '<p class="legend"><span style="background:#2e7d32"></span>covered'
        '<span style="background:#c62828"></span>missed'
        '<span style="background:#9e9e9e"></span>pending</p>',
        table(["Window start", "Window end", "Why not covered"],
              [[w.start, w.end, w.note or "no backup started in the window"] for w in missed],
              "Every finished window was covered by a verified backup."),
        f"<details><summary>All {len(a.windows)} windows</summary>",
        table(["Window start", "Window end", "Status", "Verified backup"],
              [[w.start, w.end, w.status, w.backup_id] for w in a.windows], "No windows."),
        "</details>",
        f"<h3>Checksum verifications: {a.verifications_ok} passed, "
        f"{a.verifications_failed} failed</h3>",
        table(["Checked", "Backup", "Copy", "Error"],
              [[f.checked_at, f.backup_id, f.destination, f.error]
               for f in a.verification_failures], "No checksum verification failed."),
        f"<h3>Restore drills: {a.drills_within_rto} of {len(a.drills)} within the RTO"
        f"{f', proved by {a.proved_by}' if a.proved_by else ''}</h3>",
        table(["Started", "Backup", "Where", "Result", "Restore time", "RTO", "Verdict"],
              [[d.started_at, d.backup_id, d.kind, d.status, duration(d.restore_seconds),
                duration(d.rto_seconds),
                badge(d.error or ("within RTO" if d.rto_met else "over RTO"), d.proves_rto)]
               for d in a.drills],
              "No restore drill ran in this period."),
        f"<h3>Retention deletions: {len(a.deletions)}</h3>",
        table(["Deleted", "Backup", "Backup started", "Reason"],
              [[d.deleted_at, d.backup_id, d.started_at, d.reason] for d in a.deletions],
              "No backup was deleted in this period."),
        f"<h3>Alerts: {a.alerts_opened} opened, {a.alerts_resolved} resolved</h3>",
        _alerts(a.alerts),
        f"<h3>Restores: {len(a.restores)}</h3>",
        table(["Started", "Backup", "Into", "Mode", "Result", "Duration", "Requested by"],
              [[r.started_at, r.backup_id, r.target_database, r.mode, r.status,
                duration(r.duration_seconds), r.requested_by] for r in a.restores],
              "No restore was performed in this period."),
        "</section>",
    ])


def _alerts(alerts: tuple[AlertEvidence, ...]) -> Raw:
    return table(["Opened", "Resolved", "Kind", "Severity", "Message", "Acknowledged by"],
                 [[a.opened_at, a.resolved_at, a.kind, a.severity, a.message, a.acknowledged_by]
                  for a in alerts],
                 "No alert was opened or resolved in this period.")


def _trends(report: ComplianceReport) -> str:
    """The status page's pictures over the period: restore time against the RTO and backup
    sizes with anomalies marked per app, and the estate's storage against the quota."""
    figures = "".join(f'<figure data-chart="{escape(c.chart)}" data-subject="{escape(c.subject)}">'
                      f"{render_trend_svg(c)}</figure>" for c in report.trends)
    return ('<section id="trends"><h2>Trends</h2><p class="period">Per application, each '
            "drill's restore time against the RTO and each stored backup's size (anomalies "
            "found by the contents check marked as triangles); for the estate, the bytes "
            "stored at the end of each day against the storage quota.</p>"
            f'<div class="trends">{figures}</div></section>')


def _estate(report: ComplianceReport) -> str:
    by_whom = [[who, n] for who, n in report.restores_by_requester.items()]
    return "".join([
        '<section id="estate"><h2>Restores and access</h2>',
        "<h3>Restores performed, by requester</h3>",
        table(["Requested by", "Restores"], by_whom, "No restore was performed in this period."),
        f"<h3>Restore requests in the audit log: {len(report.restore_requests)}</h3>",
        table(["At", "Who", "Role", "Backup or moment", "Into", "Result", "Detail"],
              [[q.at, q.actor, q.role, q.source, q.target_database, q.result, q.detail]
               for q in report.restore_requests],
              "Nobody asked for a restore through the API in this period."),
        "<h3>Estate-wide alerts</h3>", _alerts(report.estate_alerts),
        "<h3>Audit log</h3>", _chain(report),
        "</section>",
    ])
