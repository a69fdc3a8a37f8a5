"""Asset, check and tag names shared by the Dagster definitions (a public interface)."""

from __future__ import annotations

import dagster as dg

CHECKSUM_VERIFIED = "checksum_verified"
RPO_FRESH = "rpo_fresh"
RTO_MET = "rto_met"

TAG_APP = "dr/app"
TAG_KIND = "dr/kind"
TAG_BACKUP_SLOT = "dr/backup"  # the run queue allows one run per value: one backup per app
TAG_PRIORITY = "dagster/priority"  # the queued run coordinator starts higher values first

# When runs queue (max_concurrent_runs), a restore asked for in an incident goes first, then
# backups (the RPO), then drills, and upkeep last.
PRIORITIES = {"restore": 100, "backup": 10, "drill": -10, "retention": -20,
              "catalog_sync": -20, "report": -30}


def database_key(app: str) -> dg.AssetKey:
    return dg.AssetKey([app, "database"])


def backup_key(app: str) -> dg.AssetKey:
    return dg.AssetKey([app, "backup"])


def drill_key(app: str) -> dg.AssetKey:
    return dg.AssetKey([app, "restore_drill"])


def kind_tags(kind: str) -> dict[str, str]:
    return {TAG_KIND: kind, TAG_PRIORITY: str(PRIORITIES.get(kind, 0))}


def run_tags(app: str, kind: str) -> dict[str, str]:
    tags = {TAG_APP: app, **kind_tags(kind)}
    if kind == "backup":
        tags[TAG_BACKUP_SLOT] = app
    return tags


COMPLIANCE_REPORT_KEY = dg.AssetKey(["compliance", "report"])
