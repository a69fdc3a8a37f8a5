"""The monthly compliance/report asset in process: a month's report in every store."""

from __future__ import annotations

import json

import dagster as dg

from dr_assets.core.compliance.period import ReportPeriod
from dr_assets.core.compliance.publish import report_key
from dr_assets.definitions import build_definitions
from dr_assets.defs.compliance import compliance_report_asset
from dr_assets.defs.keys import COMPLIANCE_REPORT_KEY
from dr_assets.defs.resources import DRResource
from tests.support.compliance_month import EXPECTED_SUMMARY, seed_october, two_apps
from tests.support.env import DREnv

OCTOBER = ReportPeriod.parse("2026-10-01", "2026-10-31")


def test_materializing_a_month_stores_its_report_in_every_store(dr_env: DREnv) -> None:
    env = two_apps(dr_env)
    seed_october(env.catalog_db)
    policies = list(env.runtime().config.apps.values())
    result = dg.materialize([compliance_report_asset(policies)], partition_key="2026-10-01",
                            instance=dg.DagsterInstance.ephemeral(),
                            resources={"dr": DRResource(config_path=str(env.config_path))})
    assert result.success
    [mat] = result.asset_materializations_for_node("compliance__report")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["windows_covered"] == 181 and meta["windows_missed"] == 5
    assert meta["audit_chain_ok"] is True and meta["period"] == "2026-10-01 to 2026-10-31"
    assert set(meta["stored_on"]) == {"s3", "local"}  # type: ignore[arg-type]

    stores = env.runtime().stores
    assert {s.kind for s in stores} == {"s3", "local"}
    for store in stores:
        doc = json.loads(store.get_bytes(report_key(OCTOBER, "json")))
        assert {s["app"]: s for s in doc["summary"]} == EXPECTED_SUMMARY
        page = store.get_bytes(report_key(OCTOBER, "html")).decode()
        assert page.startswith("<!DOCTYPE html>") and "Summary per application" in page
    assert (env.local_dir / "reports" / "2026-10.html").exists()  # beside the backups
    s3 = next(s for s in stores if s.kind == "s3")
    assert s3.describe(report_key(OCTOBER, "html")).endswith(f"/{env.s3_prefix}/reports/2026-10.html)")


def test_the_code_location_has_the_monthly_report(dr_env: DREnv) -> None:
    repo = build_definitions(str(dr_env.config_path)).get_repository_def()
    node = repo.asset_graph.get(COMPLIANCE_REPORT_KEY)
    assert isinstance(node.partitions_def, dg.MonthlyPartitionsDefinition)
    assert dg.AssetKey(["shop", "backup"]) in node.parent_keys
    assert repo.get_job("compliance_report_job").name == "compliance_report_job"
    schedule = {s.name: s for s in repo.schedule_defs}["compliance_report_schedule"]
    assert schedule.cron_schedule == "30 4 1 * *"


def test_an_unwritable_store_fails_the_run_naming_it(dr_env: DREnv) -> None:
    (dr_env.local_dir).mkdir(parents=True, exist_ok=True)
    (dr_env.local_dir / "reports").write_text("a file where the reports directory should be")
    result = dg.materialize([compliance_report_asset(list(dr_env.runtime().config.apps.values()))],
                            partition_key="2026-10-01", instance=dg.DagsterInstance.ephemeral(),
                            resources={"dr": DRResource(config_path=str(dr_env.config_path))},
                            raise_on_error=False)
    assert not result.success
    failure = result.get_run_failure_event()
    assert failure is not None
    [step_failure] = [e for e in result.all_events if e.is_step_failure]
    message = str(step_failure.step_failure_data.error)  # type: ignore[union-attr]
    assert "could not be stored on local" in message
    s3 = next(s for s in dr_env.runtime().stores if s.kind == "s3")
    assert s3.size(report_key(OCTOBER, "json")) is not None  # the other store still has it

