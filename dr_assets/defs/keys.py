"""Asset and check names of the Dagster definitions (a public interface); run, op and tag
names are the run contract's, in dr_assets.core.runs."""

from __future__ import annotations

import dagster as dg

CHECKSUM_VERIFIED = "checksum_verified"
RPO_FRESH = "rpo_fresh"
CONTENTS_NORMAL = "contents_normal"
RTO_MET = "rto_met"
WAL_CONTINUOUS = "wal_continuous"


def database_key(app: str) -> dg.AssetKey:
    return dg.AssetKey([app, "database"])


def backup_key(app: str) -> dg.AssetKey:
    return dg.AssetKey([app, "backup"])


def drill_key(app: str) -> dg.AssetKey:
    return dg.AssetKey([app, "restore_drill"])


def base_backup_key(server: str) -> dg.AssetKey:
    return dg.AssetKey(["servers", server, "base_backup"])


COMPLIANCE_REPORT_KEY = dg.AssetKey(["compliance", "report"])
