"""Asset, check and tag names shared by the Dagster definitions (a public interface)."""

from __future__ import annotations

import dagster as dg

CHECKSUM_VERIFIED = "checksum_verified"
RPO_FRESH = "rpo_fresh"
RTO_MET = "rto_met"

TAG_APP = "dr/app"
TAG_KIND = "dr/kind"
TAG_BACKUP_SLOT = "dr/backup"  # the run queue allows one run per value: one backup per app


def database_key(app: str) -> dg.AssetKey:
    return dg.AssetKey([app, "database"])


def backup_key(app: str) -> dg.AssetKey:
    return dg.AssetKey([app, "backup"])


def drill_key(app: str) -> dg.AssetKey:
    return dg.AssetKey([app, "restore_drill"])


def run_tags(app: str, kind: str) -> dict[str, str]:
    tags = {TAG_APP: app, TAG_KIND: kind}
    if kind == "backup":
        tags[TAG_BACKUP_SLOT] = app
    return tags


COMPLIANCE_REPORT_KEY = dg.AssetKey(["compliance", "report"])
