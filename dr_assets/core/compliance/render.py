"""One entry point for every report format."""

from __future__ import annotations

from collections.abc import Callable

from dr_assets.core.compliance.render_csv import render_csv
from dr_assets.core.compliance.render_html import render_html
from dr_assets.core.compliance.render_json import render_json
from dr_assets.core.compliance.report import ComplianceReport
from dr_assets.core.errors import ReportError

RENDERERS: dict[str, Callable[[ComplianceReport], str]] = {
    "html": render_html, "json": render_json, "csv": render_csv,
}
FORMATS = tuple(RENDERERS)


def render_report(report: ComplianceReport, fmt: str) -> str:
    renderer = RENDERERS.get(fmt)
    if renderer is None:
        raise ReportError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
    return renderer(report)
