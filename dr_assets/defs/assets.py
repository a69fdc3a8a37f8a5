"""Per-app assets: the source database, its time-partitioned backups, and restore drills;
per protected server: its base backups, partitioned by the server's cadence."""


from collections.abc import Mapping

import dagster as dg

from dr_assets.core.backup.take import run_backup
from dr_assets.core.drills.drill import run_drill
from dr_assets.core.format.manifest import DestinationResult
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.policy import AppPolicy, ServerPolicy, drill_kind
from dr_assets.core.statuses import BackupStatus
from dr_assets.core.wal.base_backup import run_base_backup
from dr_assets.defs.keys import RTO_MET, backup_key, base_backup_key, database_key, drill_key
from dr_assets.defs.partitions import backup_partitions, base_backup_partitions
from dr_assets.defs.resources import DRResource


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


def backup_asset(policy: AppPolicy) -> dg.AssetsDefinition:
    app = policy.name

    @dg.asset(
        key=backup_key(app), deps=[database_key(app)], partitions_def=backup_partitions(policy),
        group_name=app, kinds={"postgres", "s3"}, metadata=policy_metadata(policy),
        description=f"One encrypted, compressed pg_dump of {app} per {policy.every_hours} h window.",
    )
    def backup(context: dg.AssetExecutionContext, dr: DRResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        rt = dr.runtime()
        result = run_backup(rt.config, app, keyring=rt.keyring, stores=rt.stores,
                            catalog=rt.catalog, run_id=context.run.run_id,
                            partition=context.partition_key if context.has_partition_key else None)
        m = result.manifest
        warn_degraded(context, f"backup {m.backup_id}", m.status, m.destinations)
        return dg.MaterializeResult(metadata={
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
        })

    return backup


def drill_asset(policy: AppPolicy) -> dg.AssetsDefinition:
    app = policy.name

    @dg.asset(
        key=drill_key(app), deps=[backup_key(app)], group_name=app, kinds={"postgres"},
        check_specs=[dg.AssetCheckSpec(RTO_MET, asset=drill_key(app),
                                       description="Measured restore time within the RTO")],
        description=f"Restore drill ({drill_kind(policy.drill_target)}): the newest verified "
                    f"backup of {app} restored into a scratch database, row counts, schema and "
                    "validation checks compared, timed against the RTO, scratch dropped.",
    )
    def restore_drill(context: dg.AssetExecutionContext, dr: DRResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        rt = dr.runtime()
        result = run_drill(rt.config.app(app), stores=rt.stores, keyring=rt.keyring,
                           catalog=rt.catalog, settings=rt.config.drills,
                           run_id=context.run.run_id)
        metadata: dict[str, dg.RawMetadataValue] = {
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
        if not result.passed:
            raise dg.Failure(description=f"restore drill of {app} failed: {result.error}",
                             metadata=metadata)
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[dg.AssetCheckResult(
                check_name=RTO_MET, passed=result.rto_met,
                severity=dg.AssetCheckSeverity.ERROR if policy.critical else dg.AssetCheckSeverity.WARN,
                metadata={"restore_seconds": result.restore_seconds or 0.0,
                          "rto_seconds": result.rto_seconds},
                description=f"restored in {result.restore_seconds or 0:.1f} s against an RTO of "
                            f"{result.rto_seconds:.0f} s",
            )],
        )

    return restore_drill


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
