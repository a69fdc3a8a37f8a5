"""The compliance report as one JSON document."""

from __future__ import annotations

import json

from dr_assets.core.compliance.report import ComplianceReport


def render_json(report: ComplianceReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"
