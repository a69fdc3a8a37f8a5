"""Per-app assets: the source database, its time-partitioned backups, and restore drills;
per protected server: its base backups, partitioned by the server's cadence.

What grows with the estate is asset specs, not definitions: the backups of each group (one
cadence on one source server) are one multi-asset, every app's drill is one spec of a single
multi-asset, so the code location loads in time linear in the apps.
"""


from collections.abc import Iterator, Mapping

import dagster as dg

from dr_assets.core.access.tickets import DRILL
from dr_assets.core.backup.take import BackupResult, run_backup
from dr_assets.core.drills.drill import DrillResult, run_drill
from dr_assets.core.errors import DRError
from dr_assets.core.format.manifest import DestinationResult
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.policy import AppPolicy, ServerPolicy, drill_kind
from dr_assets.core.scheduling.sources import BackupGroup, dump_pool, dump_source
from dr_assets.core.statuses import BackupStatus
from dr_assets.core.wal.base_backup import run_base_backup
from dr_assets.defs.checks import severity_of
from dr_assets.defs.keys import RTO_MET, backup_key, base_backup_key, database_key, drill_key
from dr_assets.defs.partitions import base_backup_partitions, cadence_partitions
from dr_assets.defs.resources import DRResource
from dr_assets.defs.tickets import checked_ticket


def policy_metadata(policy: AppPolicy) -> dict[str, object]:
    return {
        "rto_hours": policy.rto_hours, "rpo_hours": policy.rpo_hours,
        "every_hours": policy.every_hours, "retention_days": policy.retention_days,
        "critical": policy.critical, "min_keep": policy.min_keep,
        "database": ConnInfo.parse(policy.database_url).safe_url,
    }


def destinations_metadata(destinations: Mapping[str, DestinationResult]) -> dg.MetadataValue:
    return dg.MetadataValue.json(
        {n: {"status": d.status, "error": d.error} for n, d in destinations.items()})


def warn_degraded(context: dg.AssetExecutionContext, what: str, status: str,
                  destinations: Mapping[str, DestinationResult]) -> None:
    if status != BackupStatus.COMPLETED:
        context.log.warning(f"{what} is {status}: " + "; ".join(
            f"{n}: {d.error}" for n, d in destinations.items() if d.error))


def database_spec(policy: AppPolicy) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=database_key(policy.name), group_name=policy.name, kinds={"postgres"},
        description=f"The PostgreSQL database of {policy.name} (external; backed up, not managed).",
        metadata=policy_metadata(policy),
    )


def app_of(key: dg.AssetKey) -> str:
    return key.path[0]


def failed_apps(failures: Mapping[str, str]) -> dg.Failure:
    return dg.Failure(description="; ".join(f"{app}: {why}" for app, why in failures.items()))


def backup_metadata(result: BackupResult) -> "dict[str, dg.RawMetadataValue]":
    m = result.manifest
    return {
        "backup_id": m.backup_id,
        "status": m.status,
        "degraded": m.status != BackupStatus.COMPLETED,
        "raw_bytes": dg.MetadataValue.int(m.raw_bytes),
        "stored_bytes": dg.MetadataValue.int(m.stored_bytes),
        "sha256": m.sha256,
        "duration_seconds": dg.MetadataValue.float(round(result.duration_seconds, 3)),
        "destinations": destinations_metadata(m.destinations),
        "row_counts": dg.MetadataValue.json(m.row_counts),
        "key_id": m.encryption.key_id,
    }


def backup_assets(group: BackupGroup, policies: Mapping[str, AppPolicy]) -> dg.AssetsDefinition:
    """The backups of one group (the apps of one cadence on one server) as one multi-asset:
    one `<app>/backup` asset per app, partitioned at the cadence, in the server's pool. A
    run materializes the apps it selects (the scheduled ones: one app each)."""

    @dg.multi_asset(
        name=group.name, pool=group.pool, can_subset=True,
        partitions_def=cadence_partitions(group.every_hours),
        specs=[dg.AssetSpec(
            backup_key(app), deps=[database_key(app)], group_name=app, kinds={"postgres", "s3"},
            metadata=policy_metadata(policies[app]), skippable=True,
            description=f"One encrypted, compressed pg_dump of {app} per "
                        f"{group.every_hours} h window.",
        ) for app in group.apps],
    )
    def backups(context: dg.AssetExecutionContext, dr: DRResource
                ) -> Iterator[dg.MaterializeResult]:  # type: ignore[type-arg]
        rt = dr.runtime()
        failures: dict[str, str] = {}
        for key in sorted(context.selected_asset_keys, key=lambda k: k.path):
            app = app_of(key)
            try:
                result = run_backup(rt.config, app, keyring=rt.keyring, stores=rt.stores,
                                    catalog=rt.catalog, run_id=context.run.run_id,
                                    partition=context.partition_key
                                    if context.has_partition_key else None)
            except DRError as exc:  # the others of a many-app run still go ahead
                context.log.error(f"backup of {app} failed: {exc}")
                failures[app] = str(exc)
                continue
            m = result.manifest
            warn_degraded(context, f"backup {m.backup_id}", m.status, m.destinations)
            yield dg.MaterializeResult(asset_key=key, metadata=backup_metadata(result))
        if failures:
            raise failed_apps(failures)

    return backups


def drill_metadata(result: DrillResult) -> "dict[str, dg.RawMetadataValue]":
    return {
        "backup_id": result.backup_id or "",
        "target": result.target,
        "instance_start_seconds": dg.MetadataValue.float(
            round(result.instance_start_seconds or 0.0, 3)),
        "server_version": result.server_version or "",
        "scratch_database": result.scratch_database,
        "scratch_dropped": result.scratch_dropped,
        "restore_seconds": dg.MetadataValue.float(round(result.restore_seconds or 0.0, 3)),
        "rto_seconds": dg.MetadataValue.float(float(result.rto_seconds)),
        "tables": result.tables or 0,
        "rows": result.rows or 0,
        "checks": dg.MetadataValue.json([c.to_dict() for c in result.checks]),
    }


def rto_result(policy: AppPolicy, result: DrillResult) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=drill_key(policy.name), check_name=RTO_MET, passed=result.rto_met,
        severity=severity_of(policy),
        metadata={"restore_seconds": result.restore_seconds or 0.0,
                  "rto_seconds": result.rto_seconds},
        description=f"restored in {result.restore_seconds or 0:.1f} s against an RTO of "
                    f"{result.rto_seconds:.0f} s",
    )


def drill_assets(group: BackupGroup, policies: Mapping[str, AppPolicy]) -> dg.AssetsDefinition:
    """The `<app>/restore_drill` assets (with their rto_met checks) of a group's apps as one
    multi-asset (per group, not one for the estate: Dagster's job building is quadratic in
    a multi-asset's checks); a run drills the apps it selects (scheduled: one app each)."""
    members = {app: policies[app] for app in group.apps}

    @dg.multi_asset(
        name=group.name.replace("backups_", "restore_drills_", 1), can_subset=True,
        specs=[dg.AssetSpec(
            drill_key(app), deps=[backup_key(app)], group_name=app, kinds={"postgres"},
            skippable=True,
            description=f"Restore drill ({drill_kind(p.drill_target)}): the newest verified "
                        f"backup of {app} restored into a scratch database, row counts, schema "
                        "and validation checks compared, timed against the RTO, scratch dropped.",
        ) for app, p in members.items()],
        check_specs=[dg.AssetCheckSpec(RTO_MET, asset=drill_key(app),
                                       description="Measured restore time within the RTO")
                     for app in members],
    )
    def restore_drills(context: dg.AssetExecutionContext, dr: DRResource
                       ) -> Iterator[dg.MaterializeResult]:  # type: ignore[type-arg]
        keys = sorted(context.selected_asset_keys, key=lambda k: k.path)
        if not keys:
            raise dg.Failure("rto_met is judged by a drill: materialize the app's "
                             "restore_drill asset, which runs the check with it")
        rt = dr.runtime()
        checked_ticket(context, rt, DRILL, {"apps": [app_of(k) for k in keys]})
        failures: dict[str, str] = {}
        for key in keys:
            app = app_of(key)
            policy = rt.config.app(app)
            result = run_drill(policy, stores=rt.stores, keyring=rt.keyring, catalog=rt.catalog,
                               settings=rt.config.drills, run_id=context.run.run_id)
            if not result.passed:
                context.log.error(f"restore drill of {app} failed: {result.error}")
                failures[app] = f"restore drill failed: {result.error}"
                continue
            yield dg.MaterializeResult(asset_key=key, metadata=drill_metadata(result),
                                       check_results=[rto_result(policy, result)])
        if failures:
            raise failed_apps(failures)

    return restore_drills


def server_metadata(policy: ServerPolicy) -> dict[str, object]:
    return {
        "base_backup_every_hours": policy.base_backup_every_hours,
        "retention_days": policy.retention_days, "min_keep": policy.min_keep,
        "slot": policy.slot, "server": policy.conninfo.safe_url,
    }


def base_backup_asset(policy: ServerPolicy) -> dg.AssetsDefinition:
    server = policy.name

    @dg.asset(
        key=base_backup_key(server), partitions_def=base_backup_partitions(policy),
        pool=dump_pool(dump_source(policy.url)),
        group_name=f"server_{server}", kinds={"postgres", "s3"}, metadata=server_metadata(policy),
        description=f"One encrypted, compressed pg_basebackup of server {server} per "
                    f"{policy.base_backup_every_hours} h window: with the WAL in the stores, "
                    "the start of every point-in-time recovery.",
    )
    def base_backup(context: dg.AssetExecutionContext, dr: DRResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        rt = dr.runtime()
        m = run_base_backup(rt.config, server, keyring=rt.keyring, stores=rt.stores,
                            catalog=rt.catalog, run_id=context.run.run_id,
                            partition=context.partition_key if context.has_partition_key else None)
        warn_degraded(context, f"base backup {m.backup_id}", m.status, m.destinations)
        return dg.MaterializeResult(metadata={
            "backup_id": m.backup_id,
            "status": m.status,
            "degraded": m.status != BackupStatus.COMPLETED,
            "timeline": m.timeline,
            "start_lsn": m.start_lsn,
            "stop_lsn": m.stop_lsn,
            "start_wal": m.start_wal,
            "raw_bytes": dg.MetadataValue.int(m.raw_bytes),
            "stored_bytes": dg.MetadataValue.int(m.stored_bytes),
            "sha256": m.sha256,
            "destinations": destinations_metadata(m.destinations),
            "key_id": m.encryption.key_id,
        })

    return base_backup
