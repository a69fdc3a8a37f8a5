"""Stores a report beside the backups, in every store: `reports/<period>.html` and `.json`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dr_assets.core.compliance.period import ReportPeriod
from dr_assets.core.compliance.render import render_report
from dr_assets.core.compliance.report import ComplianceReport
from dr_assets.core.errors import StoreError
from dr_assets.core.stores.base import Store

REPORTS_PREFIX = "reports"
PUBLISHED_FORMATS = ("html", "json")


def report_key(period: ReportPeriod, fmt: str) -> str:
    return f"{REPORTS_PREFIX}/{period.label}.{fmt}"


@dataclass
class PublishedReport:
    locations: dict[str, list[str]] = field(default_factory=dict)  # store -> where each went
    errors: dict[str, str] = field(default_factory=dict)  # store -> why it failed


def publish_report(report: ComplianceReport, stores: Sequence[Store]) -> PublishedReport:
    """Every store gets every format; a failing store is reported, not fatal to the others."""
    bodies = {report_key(report.period, fmt): render_report(report, fmt).encode()
              for fmt in PUBLISHED_FORMATS}
    out = PublishedReport()
    for store in stores:
        try:
            for key, data in bodies.items():
                store.put_bytes(key, data)
        except StoreError as exc:
            out.errors[store.name] = str(exc)
            continue
        out.locations[store.name] = [store.describe(key) for key in bodies]
    return out
