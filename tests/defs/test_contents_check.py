"""The contents_normal asset check in process against real PostgreSQL and SeaweedFS: it
passes on a normal backup and fails, as an error, on one whose table vanished, naming the
table and the backup it held."""

from __future__ import annotations

import dagster as dg

from tests.defs.test_runs import Location, checks_of, materialization
from tests.support.env import DREnv
from tests.support.pg import run_sql


def test_contents_normal_fails_when_a_table_vanished(dr_env: DREnv) -> None:
    loc = Location(dr_env)
    first = loc.backup("shop")
    assert checks_of(first)["contents_normal"] is True
    held = str(materialization(first, "shop", "backup").metadata["backup_id"].value)
    run_sql(dr_env.apps["shop"], "DROP TABLE orders")
    second = loc.backup("shop", partition="2026-11-25-06:00")
    [check] = [e for e in second.get_asset_check_evaluations()
               if e.check_name == "contents_normal"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "table public.orders (20,000 rows) is gone" in (check.description or "")
    assert check.metadata["held_backup_id"].value == held
    assert checks_of(second)["checksum_verified"] is True
