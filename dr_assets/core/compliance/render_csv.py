"""The compliance report as one CSV table, a row per piece of evidence (for spreadsheets)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from dr_assets.core.compliance.report import ComplianceReport
from dr_assets.core.statuses import AlertStatus, BackupStatus, CopyStatus

COLUMNS = ("section", "app", "start", "end", "ref", "outcome", "measured", "target", "actor",
           "detail")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # a spreadsheet must not run catalog text as a formula
    return value


def _rows(report: ComplianceReport) -> list[dict[str, Any]]:
    p = report.period
    chain = report.audit_chain
    rows: list[dict[str, Any]] = [
        {"section": "period", "start": p.start, "end": p.end,
         "detail": f"generated {_cell(report.generated_at)}"},
        {"section": "audit_chain", "outcome": "intact" if chain.ok else "broken",
         "measured": chain.entries, "ref": chain.first_bad_id, "detail": chain.problem},
    ]
    for a in report.apps:
        for key, value in a.summary().items():
            if key != "app":
                rows.append({"section": "summary", "app": a.app, "ref": key, "measured": value})
    for a in report.apps:
        rows += [{"section": "backup_window", "app": a.app, "start": w.start, "end": w.end,
                  "ref": w.backup_id, "outcome": w.status, "detail": w.note} for w in a.windows]
        rows += [{"section": "verification_failure", "app": a.app, "start": f.checked_at,
                  "ref": f.backup_id, "outcome": CopyStatus.FAILED, "actor": f.destination,
                  "detail": f.error} for f in a.verification_failures]
        rows += [{"section": "drill", "app": a.app, "start": d.started_at, "end": d.finished_at,
                  "ref": d.backup_id, "outcome": d.status, "measured": d.restore_seconds,
                  "target": d.rto_seconds, "detail": f"{d.kind}: " + (d.error or (
                      "within RTO" if d.rto_met else "over RTO"))} for d in a.drills]
        rows += [{"section": "deletion", "app": a.app, "start": d.deleted_at, "ref": d.backup_id,
                  "outcome": BackupStatus.DELETED, "detail": d.reason} for d in a.deletions]
        rows += [_alert_row(al) for al in a.alerts]
        rows += [{"section": "restore", "app": a.app, "start": r.started_at, "end": r.finished_at,
                  "ref": r.backup_id, "outcome": r.status, "measured": r.duration_seconds,
                  "actor": r.requested_by,
                  "detail": f"{r.mode} into {r.target_database}" + (f": {r.error}" if r.error
                                                                     else "")}
                 for r in a.restores]
    rows += [_alert_row(al) for al in report.estate_alerts]
    rows += [{"section": "restore_request", "start": q.at, "ref": q.source, "outcome": q.result,
              "actor": f"{q.actor} ({q.role})",
              "detail": f"into {q.target_database}" + (f": {q.detail}" if q.detail else "")}
             for q in report.restore_requests]
    return rows


def _alert_row(a: Any) -> dict[str, Any]:
    return {"section": "alert", "app": a.app, "start": a.opened_at, "end": a.resolved_at,
            "ref": a.kind, "outcome": AlertStatus.RESOLVED if a.resolved_at else AlertStatus.OPEN,
            "actor": a.acknowledged_by, "detail": f"[{a.severity}] {a.message}"}


def render_csv(report: ComplianceReport) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for row in _rows(report):
        writer.writerow({c: _cell(row.get(c)) for c in COLUMNS})
    return buf.getvalue()
