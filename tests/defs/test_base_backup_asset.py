"""The per-server base backup asset: in the code location with its checks, job and schedule
at the server's cadence; materialized in process it stores a verified base backup, and
wal_continuous finds the gap when a segment after it is lost from every store."""

from __future__ import annotations

import dagster as dg

from dr_assets.core.runs import KIND_BASE_BACKUP, server_run_tags
from dr_assets.core.wal.archive import WalArchive, wal_key
from dr_assets.core.wal.base_backup import list_base_backups_in_stores, verify_base_backup
from dr_assets.definitions import build_definitions
from dr_assets.defs import assets, checks
from dr_assets.defs.resources import DRResource
from tests.support.pitr import PitrEnv, archive_closed_segments

KEY = dg.AssetKey(["servers", "main", "base_backup"])
PARTITION = "2026-11-25-00:00"


def _checks_of(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_server_asset_checks_job_and_schedule_exist(pitr_env: PitrEnv) -> None:
    repo = build_definitions(str(pitr_env.config_path)).get_repository_def()
    assert KEY in repo.asset_graph.get_all_asset_keys()
    found = {c.to_user_string() for c in repo.asset_graph.asset_check_keys}
    assert {"servers/main/base_backup:checksum_verified",
            "servers/main/base_backup:wal_continuous"} <= found
    partitions = repo.asset_graph.get(KEY).partitions_def
    assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
    assert partitions.cron_schedule == "0 0 * * *"  # base_backup_every_hours = 24
    schedules = {s.name: s for s in repo.schedule_defs}
    assert schedules["main_base_backup_schedule"].cron_schedule == "0 0 * * *"
    tags = repo.get_job("main_base_backup_job").tags
    assert tags["dr/kind"] == "base_backup" and tags["dr/backup"] == "server:main"
    assert tags["dr/app"] == "server:main"


def test_materializing_stores_a_verified_base_backup_and_the_chain_is_checked(
        pitr_env: PitrEnv) -> None:
    rt = pitr_env.env.runtime()
    policy = rt.config.server("main")
    defs = [assets.base_backup_asset(policy), checks.base_backup_checks(policy)]
    instance = dg.DagsterInstance.ephemeral()
    resources = {"dr": DRResource(config_path=str(pitr_env.config_path))}
    result = dg.materialize(defs, partition_key=PARTITION, instance=instance,
                            resources=resources, tags=server_run_tags("main", KIND_BASE_BACKUP))
    assert result.success
    [mat] = result.asset_materializations_for_node("servers__main__base_backup")
    backup_id = str(mat.metadata["backup_id"].value)
    [stored] = list_base_backups_in_stores("main", rt.stores)
    assert stored.backup_id == backup_id and stored.dagster_partition == PARTITION
    assert stored.dagster_run_id == result.run_id
    assert verify_base_backup(stored, rt.stores).ok
    evaluated = _checks_of(result)
    assert evaluated["checksum_verified"].passed
    assert evaluated["wal_continuous"].passed, evaluated["wal_continuous"].description

    # WAL after the base backup, then one segment lost from every store: a gap.
    pitr_env.write_and_switch(3)
    archive = WalArchive("main", rt.stores, rt.keyring)
    put = [n for n in archive_closed_segments(pitr_env, archive, rt.catalog)
           if n > stored.start_wal]
    assert len(put) >= 2
    again = dg.materialize(defs, instance=instance, resources=resources, raise_on_error=False,
                           selection=dg.AssetSelection.checks_for_assets(KEY))
    assert _checks_of(again)["wal_continuous"].passed
    lost = put[0]  # newer WAL lies beyond it
    for store in rt.stores:
        store.delete(wal_key("main", lost))
    gap = _checks_of(dg.materialize(defs, instance=instance, resources=resources,
                                    raise_on_error=False,
                                    selection=dg.AssetSelection.checks_for_assets(KEY)))
    assert not gap["wal_continuous"].passed
    assert gap["wal_continuous"].metadata["gap_at"].value == lost
    assert gap["checksum_verified"].passed
