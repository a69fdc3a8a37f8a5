"""Validation checks in drills, on real servers: `expect` and `compare = "backup"` pass and
fail, the compared answer is the one recorded in the dump's snapshot (the source has moved
on since), a query that writes is refused at backup time and in the drill and changes
nothing, and a query that would end sessions never gets past the config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dr_assets.core.backup import take
from dr_assets.core.backup.take import run_backup
from dr_assets.core.copies.verify import verify_backup
from dr_assets.core.drills.drill import run_drill
from dr_assets.core.format.manifest import BackupManifest, RecordedAnswer
from tests.support.env import DREnv
from tests.support.pg import db_exists, run_sql, sequence_positions, table_checksums


def with_checks(env: DREnv, *checks: dict[str, str]) -> None:
    """The env's dr.toml as written by write_config, plus these [[apps.shop.validation]]."""
    base = env.config_path.read_text().split("\n[[apps.shop.validation]]")[0]
    tables = ["\n[[apps.shop.validation]]\n" + "".join(f"{k} = {json.dumps(v)}\n"
                                                      for k, v in check.items())
              for check in checks]
    env.config_path.write_text(base + "".join(tables))


def backed_up(env: DREnv) -> BackupManifest:
    rt = env.runtime()
    manifest = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                          catalog=rt.catalog).manifest
    verify_backup(manifest, rt.stores, rt.catalog)
    return manifest


ORDERS = {"name": "orders_total", "sql": "select count(*), max(id) from orders",
          "compare": "backup"}
CUSTOMER = {"name": "first_customer", "sql": "select name from customers where id = 1",
            "expect": "customer 1"}


def test_checks_pass_against_the_snapshot_answer_and_a_failed_one_fails_the_drill(
        dr_env: DREnv) -> None:
    db = dr_env.apps["shop"]
    with_checks(dr_env, ORDERS, CUSTOMER)
    manifest = backed_up(dr_env)
    assert manifest.validation_answers == {
        "orders_total": RecordedAnswer(sql=ORDERS["sql"], answer="20000 | 20000")}
    # The source moves on: asked now, it would answer otherwise than the backup did.
    run_sql(db, "INSERT INTO orders (customer_id, total) SELECT 1, 1 FROM generate_series(1, 5)")
    assert run_sql(db, ORDERS["sql"]) == [(20005, 20005)]

    drill = json.loads(dr_env.drctl("drill", "shop", "--json").stdout)
    assert drill["passed"] and drill["scratch_dropped"] and drill["error"] is None
    assert [(c["name"], c["status"], c["expected"], c["got"]) for c in drill["checks"]] == [
        ("orders_total", "passed", "20000 | 20000", "20000 | 20000"),
        ("first_customer", "passed", "customer 1", "customer 1"),
    ]
    text = dr_env.drctl("drill", "shop").stdout
    assert "23000 rows validated, 2 of 2 validation checks passed; the server and scratch" in text

    # A wrong expectation, and a check added after the backup recorded its answers.
    with_checks(dr_env, ORDERS, CUSTOMER,
                {"name": "customer_count", "sql": "select count(*) from customers",
                 "expect": "2999"},
                {"name": "newest_customer", "sql": "select max(id) from customers",
                 "compare": "backup"})
    rt = dr_env.runtime()
    result = run_drill(rt.config.app("shop"), stores=rt.stores, keyring=rt.keyring,
                       catalog=rt.catalog)
    assert not result.passed and result.scratch_dropped
    assert not db_exists(result.scratch_database)
    assert result.error == "check customer_count failed: expected '2999', got '3000'"
    assert [(c.name, c.status) for c in result.checks] == [
        ("orders_total", "passed"), ("first_customer", "passed"),
        ("customer_count", "failed"), ("newest_customer", "skipped")]
    assert result.checks[3].error == (f"backup {manifest.backup_id} recorded no answer for it")
    [row] = rt.catalog.list_drills("shop", limit=1)
    assert row.status == "failed" and row.error == result.error

    proc = dr_env.drctl("drill", "shop", check=False)
    assert proc.returncode == 1
    assert "FAILED: check customer_count failed: expected '2999', got '3000'" in (
        proc.stdout + proc.stderr)


def test_the_recorded_answer_is_the_dump_s_snapshot_s(dr_env: DREnv,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows that arrive while the backup runs are in neither the dump nor the answer."""
    db = dr_env.apps["shop"]
    with_checks(dr_env, ORDERS)
    real = take.record_answers

    def insert_then_answer(conn: Any, checks: Any) -> Any:
        run_sql(db, "INSERT INTO orders (customer_id, total) SELECT 1, 1 FROM generate_series(1, 7)")
        return real(conn, checks)

    monkeypatch.setattr(take, "record_answers", insert_then_answer)
    manifest = backed_up(dr_env)
    assert manifest.validation_answers is not None
    assert manifest.validation_answers["orders_total"].answer == "20000 | 20000"
    assert manifest.row_counts["public.orders"] == 20000
    assert run_sql(db, "SELECT count(*) FROM orders") == [(20007,)]
    monkeypatch.undo()
    rt = dr_env.runtime()
    result = run_drill(rt.config.app("shop"), stores=rt.stores, keyring=rt.keyring,
                       catalog=rt.catalog)
    assert result.passed and [c.status for c in result.checks] == ["passed"]


def test_a_query_that_writes_is_refused_and_changes_nothing(dr_env: DREnv) -> None:
    db = dr_env.apps["shop"]
    before = (table_checksums(db), sequence_positions(db))
    with_checks(dr_env,
                {"name": "sneaky_delete", "compare": "backup",
                 "sql": "with gone as (delete from orders returning 1) select count(*) from gone"},
                {"name": "sneaky_nextval", "sql": "select nextval('orders_id_seq')",
                 "expect": "20001"})
    manifest = backed_up(dr_env)
    assert manifest.validation_answers is not None
    recorded = manifest.validation_answers["sneaky_delete"]
    assert recorded.answer is None
    assert recorded.error == "cannot execute SELECT in a read-only transaction"
    assert (table_checksums(db), sequence_positions(db)) == before  # the source, unchanged

    rt = dr_env.runtime()
    result = run_drill(rt.config.app("shop"), stores=rt.stores, keyring=rt.keyring,
                       catalog=rt.catalog)
    assert not result.passed and result.scratch_dropped
    assert result.error == (
        "check sneaky_delete failed: it failed in the backup's snapshot: cannot execute "
        "SELECT in a read-only transaction; check sneaky_nextval failed: cannot execute "
        "nextval() in a read-only transaction")
    assert (table_checksums(db), sequence_positions(db)) == before


def test_a_query_that_would_end_sessions_is_refused_by_the_config(dr_env: DREnv) -> None:
    db = dr_env.apps["shop"]
    with_checks(dr_env, {"name": "ender", "expect": "t",
                         "sql": "select pg_terminate_backend(pid) from pg_stat_activity"})
    proc = dr_env.drctl("drill", "shop", check=False)
    assert proc.returncode != 0
    assert ("apps.shop.validation[0].sql: refused: it calls pg_terminate_backend, which acts "
            "on the server beyond a read-only transaction") in proc.stderr
    assert run_sql(db, "SELECT count(*) FROM orders") == [(20000,)]
