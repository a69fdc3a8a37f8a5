"""Granular restores and `drctl contents`, on the fidelity fixture with real stores: one
table, one schema, what comes along and what is left out, the manifest's counts checked
for exactly those tables, hostile names refused before anything exists."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from dr_assets.core.copies.locate import find_manifest
from dr_assets.core.errors import InvalidName, RestoreError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.restore.restore import restore_backup
from dr_assets.core.restore.selection import Selection, parse_table_name, plan_selection
from dr_assets.core.restore.toc import ArchiveToc, parse_toc
from dr_assets.devstack.seaweed import SeaweedServer
from tests.support.env import DREnv, write_config
from tests.support.pg import (
    PG_URL,
    db_exists,
    drop_db,
    load_fidelity,
    run_sql,
    sequence_positions,
    table_checksums,
)

SHOP_ORDERS_DEPS = {"shop.order_status", "shop.address"}  # the types its columns use


def _fidelity(tmp_path: Path, s3: SeaweedServer, catalog_db: str, make_db: Callable[[str], str],
              extra_sql: str = "") -> tuple[DREnv, str, dict[str, object]]:
    """The fidelity fixture as app `fidelity`, and a backup of it taken by drctl."""
    source = make_db("fidelity")
    load_fidelity(source)
    if extra_sql:
        run_sql(source, extra_sql)
    apps = {"fidelity": source}
    env = DREnv(tmp_path, write_config(tmp_path, s3, f"g{tmp_path.name[-6:]}", catalog_db, apps),
                s3, f"g{tmp_path.name[-6:]}", apps, catalog_db)
    backup = json.loads(env.drctl("backup", "fidelity", "--json").stdout)
    assert backup["status"] == "completed"
    return env, source, backup


def _new_target(make_db: Callable[[str], str], tag: str) -> str:
    name = make_db(tag)  # dropped after the test whatever happens
    drop_db(name)  # the restore creates it
    return name


def _user_objects(db: str) -> dict[str, set[str]]:
    """What a database holds outside the system schemas, by kind."""
    rows = run_sql(db, """
        SELECT 'relation ' || c.relkind::text, n.nspname || '.' || c.relname
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        UNION ALL
        SELECT 'function', n.nspname || '.' || p.proname
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
        UNION ALL
        SELECT 'type', n.nspname || '.' || t.typname
          FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND t.typtype IN ('e', 'c', 'd', 'r')
           AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid AND c.relkind <> 'c')
        UNION ALL
        SELECT 'schema', nspname FROM pg_namespace
         WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public', 'pg_toast')
           AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'
        UNION ALL
        SELECT 'trigger', tgname FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL
        SELECT 'constraint', conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')""")
    found: dict[str, set[str]] = {}
    for kind, name in rows:
        found.setdefault(str(kind), set()).add(str(name))
    return found


def test_one_table_restores_with_what_it_needs_and_nothing_else(
        tmp_path: Path, s3_server: SeaweedServer, catalog_db: str,
        make_db: Callable[[str], str]) -> None:
    env, source, backup = _fidelity(tmp_path, s3_server, catalog_db, make_db)
    target = _new_target(make_db, "orders")
    out = json.loads(env.drctl("restore", str(backup["backup_id"]), "--table", "shop.orders",
                               "--target-db", target, "--json").stdout)
    # Streamed, one read of the copy, verified while streaming: exactly its stored size.
    assert out["loaded_with"] == "stream" and out["bytes_read"] == backup["stored_bytes"]
    assert out["granular"]["restored_tables"] == ["shop.orders"]
    assert {"entry": "fk constraint shop.orders orders_customer_fk",
            "why": "it needs table shop.customers, which is not restored"} in out["granular"]["left_out"]
    assert out["tables"] == 1 and out["rows"] == 1500

    assert table_checksums(target) == {"shop.orders": table_checksums(source)["shop.orders"]}
    assert sequence_positions(target) == {"shop.orders_id_seq":
                                          sequence_positions(source)["shop.orders_id_seq"]}
    objects = _user_objects(target)
    assert objects["relation r"] == {"shop.orders"}
    assert "relation v" not in objects and "relation m" not in objects  # no view came along
    assert objects["relation i"] == {"shop.orders_pkey", "shop.orders_recent_idx"}
    assert objects["schema"] == {"shop"}
    assert objects["type"] == SHOP_ORDERS_DEPS
    assert objects["function"] == {"shop.stamp_order", "shop.log_order"}  # its triggers'
    assert objects["trigger"] == {"stamp_order", "log_order"}
    # Its own foreign key (to itself) is there, the one to shop.customers is not.
    assert objects["constraint"] == {"orders_pkey", "orders_parent_order_id_fkey"}
    # The triggers were created after the rows went in, as in a full restore: not fired again.
    assert run_sql(target, "SELECT count(*) FROM shop.orders WHERE note LIKE '%[stamped] [stamped]%'"
                   ) == run_sql(source, "SELECT count(*) FROM shop.orders "
                                        "WHERE note LIKE '%[stamped] [stamped]%'")

    # In parallel through a spool file, the same selection restores the same table.
    parallel = _new_target(make_db, "orders_parallel")
    said = env.drctl("restore", str(backup["backup_id"]), "--table", "shop.orders",
                     "--target-db", parallel, "--jobs", "2").stdout
    assert "(parallel (2 jobs, spooled)): 1 of its tables (shop.orders), 1500 rows" in said
    assert ("left out: fk constraint shop.orders orders_customer_fk: it needs table "
            "shop.customers, which is not restored") in said
    assert table_checksums(parallel) == table_checksums(target)

    # The manifest's count of shop.orders is what was checked: injected one short, the
    # restore fails and leaves nothing; a wrong count of a table left out is not looked at.
    rt = env.runtime()
    manifest = find_manifest(str(backup["backup_id"]), rt.stores, None)
    server = ConnInfo.parse(f"{PG_URL}/postgres")
    only_orders = Selection.of(["shop.orders"])
    short = replace(manifest, row_counts={**manifest.row_counts, "shop.orders": 1499})
    again = _new_target(make_db, "orders_short")
    with pytest.raises(RestoreError, match=r"shop\.orders: expected 1499 rows, found 1500"):
        restore_backup(short, target_db=again, target=server, stores=rt.stores,
                       keyring=rt.keyring, selection=only_orders)
    assert not db_exists(again)
    elsewhere = replace(manifest, row_counts={**manifest.row_counts, "shop.customers": 1})
    result = restore_backup(elsewhere, target_db=again, target=server, stores=rt.stores,
                            keyring=rt.keyring, selection=only_orders)
    assert result.granular is not None and result.granular["restored_tables"] == ["shop.orders"]


def test_one_schema_restores_from_the_storage_alone(
        tmp_path: Path, s3_server: SeaweedServer, catalog_db: str,
        make_db: Callable[[str], str]) -> None:
    env, source, backup = _fidelity(tmp_path, s3_server, catalog_db, make_db)
    drop_db(catalog_db)  # the catalog is gone: the stores and the key are all there is
    target = _new_target(make_db, "ledger")
    out = json.loads(env.drctl("restore", str(backup["backup_id"]), "--from-storage",
                               "--schema", "ledger", "--target-db", target, "--json").stdout)
    ledger = {t: v for t, v in table_checksums(source).items() if t.startswith("ledger.")}
    assert table_checksums(target) == ledger  # partitions, accounts and the materialized view
    leaves = {t for t, n in backup["row_counts"].items() if t.startswith("ledger.")}  # type: ignore[attr-defined]
    assert leaves <= set(out["granular"]["restored_tables"])
    assert out["tables"] == len(leaves)
    assert sequence_positions(target) == {s: p for s, p in sequence_positions(source).items()
                                          if s.startswith("ledger.")}
    objects = _user_objects(target)
    assert objects["schema"] == {"ledger"}
    assert objects["function"] == {"ledger.refuse_zero"}
    assert objects["trigger"] == {"refuse_zero"}
    assert "entries_account_fkey" in objects["constraint"]  # both its tables are in ledger
    assert [o["entry"] for o in out["granular"]["left_out"]] == ["large objects"]


def test_contents_lists_the_archive_from_the_storage_alone(
        tmp_path: Path, s3_server: SeaweedServer, catalog_db: str,
        make_db: Callable[[str], str]) -> None:
    env, _source, backup = _fidelity(tmp_path, s3_server, catalog_db, make_db)
    drop_db(catalog_db)
    found = json.loads(env.drctl("contents", str(backup["backup_id"]), "--from-storage",
                                 "--json").stdout)
    counts: dict[str, int] = backup["row_counts"]  # type: ignore[assignment]
    assert {s["name"] for s in found["schemas"]} == {"ledger", "shop", 'Odd "Names" ✓', "table",
                                                     "public"}
    listed = {f"{t['schema']}.{t['name']}": t["rows"] for t in found["tables"]}
    assert {t: n for t, n in listed.items() if n is not None} == counts
    assert listed["ledger.entries"] is None and listed["ledger.balances"] is None  # partitioned
    selectors = {t["selector"] for t in found["tables"]}
    assert '"Odd ""Names"" ✓"."Mixed Case ""Table"" ñ"' in selectors
    assert 'public."日本語の表"' in selectors
    objects = {(o["kind"], o["schema"], o["name"]) for o in found["objects"]}
    assert {("VIEW", "shop", "live_products"), ("MATERIALIZED VIEW", "ledger", "monthly_totals"),
            ("FUNCTION", "ledger", "refuse_zero()"), ("SEQUENCE", "ledger", "invoice_no"),
            ("TYPE", "shop", "order_status"), ("DOMAIN", "shop", "sku"),
            ("AGGREGATE", "shop", "joined(text)"), ("TRIGGER", "shop", "orders stamp_order"),
            ("INDEX", "shop", "orders_recent_idx"), ("BLOB", None, "4242001")} <= objects
    assert found["read_from"] == "local" and 0 < found["bytes_read"] <= found["stored_bytes"]
    text = env.drctl("contents", str(backup["backup_id"]), "--from-storage").stdout
    assert "shop.orders" in text and "1500" in text and "view shop.live_products" in text


def test_contents_reads_only_the_head_of_a_bigger_backup(
        tmp_path: Path, s3_server: SeaweedServer, catalog_db: str,
        make_db: Callable[[str], str]) -> None:
    # Rows hard to compress, so the stored copy is large: ~27 MB stored.
    _env, _source, backup = _fidelity(tmp_path, s3_server, catalog_db, make_db, """
        CREATE TABLE public.bulk AS
          SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS body
            FROM generate_series(1, 500000) g""")
    found = json.loads(_env.drctl("contents", str(backup["backup_id"]), "--json").stdout)
    stored = int(backup["stored_bytes"])  # type: ignore[call-overload]
    assert stored > 16 << 20
    print(f"contents read {found['bytes_read']} of {stored} stored bytes")
    # The table of contents and what the pipes held when pg_restore --list had it.
    assert found["bytes_read"] <= 4 << 20
    assert {"schema": "public", "name": "bulk", "selector": "public.bulk", "rows": 500000} in \
        found["tables"]


def test_hostile_and_unknown_names_are_refused_before_anything_exists(
        tmp_path: Path, s3_server: SeaweedServer, catalog_db: str,
        make_db: Callable[[str], str]) -> None:
    env, _source, backup = _fidelity(tmp_path, s3_server, catalog_db, make_db)
    backup_id = str(backup["backup_id"])
    target = _new_target(make_db, "hostile")
    for flag, name, needle in (
        ("--table", "x; drop table y", "is not a table name"),
        ("--table", '"x; drop table y"', "is not a table name"),  # one quoted part, no schema
        ("--table", "a.b.c", "is not a table name"),
        ("--table", "", "is not a table name"),
        ("--table", 'shop."orders', "is not a table name"),
        ("--table", '"shop".orders"', "is not a table name"),
        ("--table", "shop.orders\n", "is not a table name"),
        ("--schema", "shop; drop schema shop", "is not a schema name"),
        ("--schema", "'shop'", "is not a schema name"),
        ("--table", "shop." + "x" * 64, "longer than PostgreSQL's 63-byte identifiers"),
        ("--table", "shop.ordrs", "has no table shop.ordrs (did you mean shop.orders"),
        ("--table", '"x; drop table y".t', 'has no table "x; drop table y".t'),
        ("--schema", "Ledgr", "has no schema ledgr (did you mean ledger"),  # folded
        ("--table", "ledger.entries_2024_q1", "a partition of it"),
    ):
        proc = env.drctl("restore", backup_id, flag, name, "--target-db", target, check=False)
        assert proc.returncode == 1 and needle in proc.stderr, (name, proc.stderr)
        assert proc.stderr.startswith("drctl: ") and proc.stdout == ""
        assert not db_exists(target), name
    proc = env.drctl("restore", backup_id, "--table", "shop.orders", "--replace", "--yes",
                     check=False)
    assert proc.returncode == 1 and "new database only" in proc.stderr
    assert run_sql(source_db := env.apps["fidelity"], "SELECT count(*) FROM shop.orders") == [(1500,)]
    assert db_exists(source_db)
    # A quoted name is exact: "Shop" is not shop.
    proc = env.drctl("restore", backup_id, "--schema", '"Shop"', "--target-db", target,
                     check=False)
    assert 'has no schema "Shop" (did you mean shop' in proc.stderr and not db_exists(target)


# --- the plan, from a local pg_dump archive: no stores needed ------------------------------------

def _toc_of(db: str) -> ArchiveToc:
    archive = subprocess.run(["pg_dump", "-Fc", "-d", f"{PG_URL}/{db}"], capture_output=True,
                             check=True).stdout
    listing, script = (subprocess.run(["pg_restore", *flags], input=archive, capture_output=True,
                                      check=True).stdout.decode()
                       for flags in (["--list", "--verbose"],
                                     ["--schema-only", "--verbose", "--file=-"]))
    return parse_toc(listing, script)


def test_the_plan_follows_dependencies_and_names_what_it_leaves_out(
        make_db: Callable[[str], str]) -> None:
    source = make_db("toc")
    load_fidelity(source)
    run_sql(source, "CREATE VIEW public.big_orders AS SELECT id FROM shop.orders WHERE revision > 1")
    toc = _toc_of(source)

    odd = Selection.of(['"Odd ""Names"" ✓"."Mixed Case ""Table"" ñ"'])
    assert odd is not None
    plan = plan_selection(toc, odd, "fidelity-x")
    assert plan.tables == ('Odd "Names" ✓.Mixed Case "Table" ñ',)
    kinds = {(e.kind, e.name) for e in plan.kept}
    assert {("SCHEMA", 'Odd "Names" ✓'), ("TYPE", "Mood ✓"), ("INDEX", 'Odd index "name"'),
            ("TABLE DATA", 'Mixed Case "Table" ñ')} <= kinds
    assert ("VIEW", 'View of "odd" things') not in kinds  # a view is restored only if selected

    # A streamed archive is read forwards: the --use-list file keeps the archive's order.
    order = [e.dump_id for e in toc.entries]
    kept = [int(line.split(";")[0]) for line in plan.list_file().splitlines()]
    assert kept == sorted(kept, key=order.index)

    public = plan_selection(toc, Selection(schemas=("public",)), "fidelity-x")
    assert public.tables == ("public.日本語の表",)
    assert {"entry": "view public.big_orders",
            "why": "it needs table shop.orders, which is not restored"} in \
        public.to_dict()["left_out"]

    both = plan_selection(toc, Selection(schemas=("public",), tables=(("shop", "orders"),)),
                          "fidelity-x")
    assert ("VIEW", "big_orders") in {(e.kind, e.name) for e in both.kept}
    assert both.expected_counts({"shop.orders": 1500, "shop.customers": 600,
                                 "public.日本語の表": 3}) == {"shop.orders": 1500,
                                                            "public.日本語の表": 3}

    partitioned = plan_selection(toc, Selection(tables=(("ledger", "balances"),)), "fidelity-x")
    assert set(partitioned.tables) == {"ledger.balances", "ledger.balances_eu",
                                       "ledger.balances_americas", "ledger.balances_apac",
                                       "ledger.balances_apac_0", "ledger.balances_apac_1",
                                       "ledger.balances_apac_2", "ledger.balances_rest"}
    for alone, parent in ((("shop", "customer_notes"), "shop.notes"),
                          (("ledger", "balances_apac_1"), "ledger.balances_apac")):
        with pytest.raises(RestoreError, match=f"select {parent} too"):
            plan_selection(toc, Selection(tables=(alone,)), "fidelity-x")


@pytest.mark.parametrize("text", ["", ".", "a", "a.b.c", "a..b", "a b.c", "a.b;", "a.'b'",
                                  'a."b', 'a."b""', 'a."b\nc"', "a.-b", "1a.b", '"".b', "a.b\x00",
                                  "a.$b", "a.b c"])
def test_table_names_are_checked_strictly(text: str) -> None:
    with pytest.raises(InvalidName):
        parse_table_name(text)


def test_table_names_read_as_sql_reads_them() -> None:
    assert parse_table_name("Shop.Orders") == ("shop", "orders")
    assert parse_table_name('"Shop"."Or""ders"') == ("Shop", 'Or"ders')
    assert parse_table_name('"x; drop table y".t') == ("x; drop table y", "t")
    assert parse_table_name("a_1.b$2") == ("a_1", "b$2")
    assert Selection.of([], []) is None and Selection.of(None, None) is None
    assert Selection.of(["shop.orders", "Shop.orders"], ["ledger", '"ledger"']) == Selection(
        tables=(("shop", "orders"),), schemas=("ledger",))
    with pytest.raises(InvalidName, match="at most 1000"):
        Selection.of([f"s.t{i}" for i in range(1001)])
