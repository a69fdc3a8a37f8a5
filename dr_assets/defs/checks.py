"""Backup checks that re-read stored data: checksum_verified, then rpo_fresh, and
contents_normal (what the contents check found in the backup against its app's history);
base backup checks: checksum_verified, then wal_continuous (no gap in the WAL from its
start on).

Each is one multi-check, so the second is judged after this run's verification.
"""


from collections.abc import Iterator, Mapping

import dagster as dg

from dr_assets.core.anomalies.check import named
from dr_assets.core.anomalies.rules import CRITICAL, Finding
from dr_assets.core.copies.locate import find_manifest
from dr_assets.core.copies.verify import VerifyResult, verify_backup
from dr_assets.core.health.estate import estate_status
from dr_assets.core.health.scores import AppHealth, rpo_summary
from dr_assets.core.policy import AppPolicy, ServerPolicy
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.scheduling.sources import BackupGroup
from dr_assets.core.statuses import VALID_STATUSES
from dr_assets.core.wal.base_backup import newest_base_backup, verify_base_backup
from dr_assets.core.wal.continuity import wal_continuity
from dr_assets.defs.keys import (
    CHECKSUM_VERIFIED,
    CONTENTS_NORMAL,
    RPO_FRESH,
    WAL_CONTINUOUS,
    backup_key,
    base_backup_key,
)
from dr_assets.defs.resources import DRResource

# A run's own backup is among the app's newest; the check reads no further back.
BACKUPS_LOOKED_AT = 20


def checksum_result(result: VerifyResult, sha256: str, severity: dg.AssetCheckSeverity,
                    asset: dg.AssetKey | None = None) -> dg.AssetCheckResult:
    """checksum_verified from every copy re-read (a dump's or a base backup's)."""
    return dg.AssetCheckResult(
        asset_key=asset, check_name=CHECKSUM_VERIFIED, passed=result.ok, severity=severity,
        description="; ".join(c.error or "" for c in result.failures) or
                    f"{len(result.checks)} copies match sha256 {sha256[:12]}..",
        metadata={
            "backup_id": result.backup_id,
            "copies": dg.MetadataValue.json({c.destination: c.ok for c in result.checks}),
            "failed_copies": ", ".join(c.destination for c in result.failures),
        },
    )


def backup_check_specs(policy: AppPolicy) -> list[dg.AssetCheckSpec]:
    key = backup_key(policy.name)
    return [
        dg.AssetCheckSpec(CHECKSUM_VERIFIED, asset=key, blocking=True,
                          description="Every stored copy re-read; SHA-256 equals the manifest's"),
        dg.AssetCheckSpec(RPO_FRESH, asset=key,
                          description=(f"Newest WAL of server {policy.server} held by a "
                                       f"destination at most {policy.rpo_hours:g} h old"
                                       if policy.server else
                                       f"Newest verified backup at most "
                                       f"{policy.rpo_hours:g} h old")),
        dg.AssetCheckSpec(CONTENTS_NORMAL, asset=key,
                          description="No table lost most of its rows or vanished, no dump much "
                                      "smaller or much less compressible than the recent ones"),
    ]


def severity_of(policy: AppPolicy) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if policy.critical else dg.AssetCheckSeverity.WARN


def run_backup_id(rt: DRRuntime, app: str, run_id: str) -> str | None:
    """This run's backup of the app, else its newest valid one."""
    rows = rt.catalog.list_backups(app=app, statuses=VALID_STATUSES, with_manifests=False,
                                   limit=BACKUPS_LOOKED_AT)
    candidates = [r for r in rows if r.dagster_run_id == run_id] or rows
    return candidates[0].backup_id if candidates else None


def checksum_check(rt: DRRuntime, policy: AppPolicy, run_id: str,
                   severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    """This run's backup of the app (else its newest valid one), every copy re-read."""
    app = policy.name
    backup_id = run_backup_id(rt, app, run_id)
    if backup_id is None:
        return dg.AssetCheckResult(asset_key=backup_key(app), check_name=CHECKSUM_VERIFIED,
                                   passed=False, severity=severity,
                                   description=f"{app} has no backup to verify")
    manifest = find_manifest(backup_id, rt.stores, rt.catalog)
    result = verify_backup(manifest, rt.stores, rt.catalog)
    return checksum_result(result, manifest.sha256, severity, backup_key(app))


def contents_check(rt: DRRuntime, policy: AppPolicy, run_id: str) -> dg.AssetCheckResult:
    """What the contents check found in this run's backup (recorded when it was cataloged):
    failed on any finding, an error when one is critical, else a warning."""
    app = policy.name
    backup_id = run_backup_id(rt, app, run_id)
    found = rt.catalog.backup_findings(backup_id) if backup_id else None
    findings = [Finding.from_dict(f) for f in found or []]
    critical = any(f.severity == CRITICAL for f in findings)
    if backup_id is None or found is None:
        why = (f"{app} has no backup" if backup_id is None else
               f"backup {backup_id} was not checked ([apps.{app}.anomalies] enabled = false)")
        return dg.AssetCheckResult(asset_key=backup_key(app), check_name=CONTENTS_NORMAL,
                                   passed=backup_id is not None, description=why,
                                   severity=dg.AssetCheckSeverity.WARN)
    return dg.AssetCheckResult(
        asset_key=backup_key(app), check_name=CONTENTS_NORMAL, passed=not findings,
        severity=dg.AssetCheckSeverity.ERROR if critical else dg.AssetCheckSeverity.WARN,
        description=named(findings) if findings else
                    f"backup {backup_id}: contents in line with the app's recent backups",
        metadata={"backup_id": backup_id,
                  "findings": dg.MetadataValue.json([f.to_dict() for f in findings]),
                  "held_backup_id": findings[0].previous_backup_id if findings else ""},
    )


def rpo_check(policy: AppPolicy, health: AppHealth, severity: dg.AssetCheckSeverity
              ) -> dg.AssetCheckResult:
    age, rpo_seconds = health.backup_age_hours, health.rpo_seconds
    return dg.AssetCheckResult(
        asset_key=backup_key(policy.name), check_name=RPO_FRESH, passed=health.rpo_met,
        severity=severity, description=rpo_summary(policy, health),
        metadata={"backup_age_hours": dg.MetadataValue.float(round(age, 3) if age is not None
                                                             else -1.0),
                  "rpo_hours": dg.MetadataValue.float(float(policy.rpo_hours)),
                  "rpo_seconds": dg.MetadataValue.float(round(rpo_seconds, 1)
                                                        if rpo_seconds is not None else -1.0),
                  "protection": health.protection},
    )


def backup_checks(group: BackupGroup, policies: Mapping[str, AppPolicy]
                  ) -> dg.AssetChecksDefinition:
    """checksum_verified, rpo_fresh and contents_normal of every backup asset of a group, as
    one multi-check that runs the checks a run selects (a backup run: its app's three)."""

    @dg.multi_asset_check(
        specs=[spec for app in group.apps for spec in backup_check_specs(policies[app])],
        name=f"{group.name}_checks", can_subset=True,
    )
    def checks(context: dg.AssetCheckExecutionContext, dr: DRResource
               ) -> Iterator[dg.AssetCheckResult]:
        rt = dr.runtime()
        selected = context.selected_asset_check_keys
        policies = [rt.config.app(a) for a in sorted({k.asset_key.path[0] for k in selected})]
        for policy in policies:
            if dg.AssetCheckKey(backup_key(policy.name), CHECKSUM_VERIFIED) in selected:
                yield checksum_check(rt, policy, context.run.run_id, severity_of(policy))
            if dg.AssetCheckKey(backup_key(policy.name), CONTENTS_NORMAL) in selected:
                yield contents_check(rt, policy, context.run.run_id)
        fresh = [p for p in policies if dg.AssetCheckKey(backup_key(p.name), RPO_FRESH) in selected]
        if fresh:  # judged after this run's verification, which makes its backup count
            health = {a.app: a for a in estate_status(rt.config, rt.catalog).health.apps}
            for policy in fresh:
                yield rpo_check(policy, health[policy.name], severity_of(policy))

    return checks


def base_backup_checks(policy: ServerPolicy) -> dg.AssetChecksDefinition:
    server = policy.name
    key = base_backup_key(server)
    severity = dg.AssetCheckSeverity.ERROR

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(CHECKSUM_VERIFIED, asset=key, blocking=True,
                              description="Every stored copy re-read; SHA-256 equals the manifest's"),
            dg.AssetCheckSpec(WAL_CONTINUOUS, asset=key,
                              description="No gap in the WAL from the base backup's start to the "
                                          "newest WAL the stores hold"),
        ],
        name=f"{server}_base_backup_checks",
    )
    def checks(context: dg.AssetCheckExecutionContext, dr: DRResource
               ) -> Iterator[dg.AssetCheckResult]:
        rt = dr.runtime()
        manifest = newest_base_backup(server, rt.catalog, rt.stores, context.run.run_id)
        if manifest is None:
            for name in (CHECKSUM_VERIFIED, WAL_CONTINUOUS):
                yield dg.AssetCheckResult(check_name=name, passed=False, severity=severity,
                                          description=f"server {server} has no base backup")
            return
        result = verify_base_backup(manifest, rt.stores)
        yield checksum_result(result, manifest.sha256, severity)
        chain = wal_continuity(manifest, rt.stores, rt.keyring)
        yield dg.AssetCheckResult(
            check_name=WAL_CONTINUOUS, passed=chain.ok, severity=severity,
            description=chain.message,
            metadata={"backup_id": manifest.backup_id, "start_wal": manifest.start_wal,
                      "end": chain.end or "", "gap_at": chain.gap_at or ""},
        )

    return checks
