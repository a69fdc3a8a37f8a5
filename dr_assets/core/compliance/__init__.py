"""Compliance evidence: per app, the backup windows of a period and whether a verified
backup covered each, checksum checks, drills against the RTO, deletions, alerts, restores
and who asked for them, and the audit chain's verdict; rendered as HTML, JSON or CSV."""

from __future__ import annotations

from dr_assets.core.compliance.assemble import build_report
from dr_assets.core.compliance.period import ReportPeriod
from dr_assets.core.compliance.render import FORMATS, render_report
from dr_assets.core.compliance.report import ComplianceReport

__all__ = ["FORMATS", "ComplianceReport", "ReportPeriod", "build_report", "render_report"]
