"""What is refused before a restore run is launched, checked against a real catalog."""

from __future__ import annotations

from datetime import UTC, datetime

from dr_assets.core.backup.take import run_backup
from dr_assets.core.restore.requests import RestoreRefusal, RestoreRequest, check_restore_request
from dr_assets.core.restore.selection import Selection
from tests.support.env import DREnv


def test_restore_requests_are_checked_before_anything_runs(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    m = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                   catalog=rt.catalog).manifest
    app_db = dr_env.apps["shop"]

    def check(backup_id: str, target: str, mode: str = "NEW_DATABASE") -> object:
        return check_restore_request(rt.config, rt.catalog, backup_id, target, mode)

    assert check(m.backup_id, "shop_copy") == RestoreRequest(app="shop")
    assert check(m.backup_id, app_db, "REPLACE") == RestoreRequest(app="shop")
    for backup_id, target, mode, kind, needle in (
        ("../../etc/passwd", "shop_copy", "NEW_DATABASE", "invalid_input", "backup id"),
        (m.backup_id, 'x"; DROP DATABASE y; --', "NEW_DATABASE", "invalid_input", "x"),
        (m.backup_id, "shop_copy", "MERGE", "invalid_input", "unknown mode"),
        ("shop-20990101T000000Z-beef", "shop_copy", "NEW_DATABASE", "backup_not_found", "not found"),
        (m.backup_id, app_db, "NEW_DATABASE", "invalid_input", "already exists"),
        (m.backup_id, "shop_nowhere", "REPLACE", "invalid_input", "replace_allowed"),
    ):
        refusal = check(backup_id, target, mode)
        assert isinstance(refusal, RestoreRefusal) and refusal.kind == kind, (backup_id, refusal)
        assert needle in refusal.message

    for destination in ("local", "s3"):  # every copy failed its checksum
        rt.catalog.record_verification(m.backup_id, destination, False, m.sha256, "0" * 64,
                                       "flipped byte")
    refusal = check(m.backup_id, "shop_copy")
    assert isinstance(refusal, RestoreRefusal) and refusal.kind == "backup_not_restorable"
    assert "no copy that passed its checksum" in refusal.message

    failed = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog).manifest
    rt.catalog.fail_backup(failed.backup_id, "pg_dump exited 1", datetime.now(UTC))
    refusal = check(failed.backup_id, "shop_copy")
    assert isinstance(refusal, RestoreRefusal) and refusal.kind == "backup_not_restorable"
    assert "is failed: pg_dump exited 1" in refusal.message


def test_granular_requests_check_their_names_and_go_to_a_new_database(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    m = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                   catalog=rt.catalog).manifest

    def check(tables: list[str], schemas: list[str], mode: str = "NEW_DATABASE") -> object:
        return check_restore_request(rt.config, rt.catalog, m.backup_id, "shop_part", mode,
                                     tables, schemas)

    assert check(["Public.Orders", '"Odd"."T"'], ["sales"]) == RestoreRequest(
        app="shop", selection=Selection(tables=(("public", "orders"), ("Odd", "T")),
                                        schemas=("sales",)))
    assert check([], []) == RestoreRequest(app="shop")  # nothing named: the whole database
    for tables, schemas, needle in ((["x; drop table y"], [], "is not a table name"),
                                    (["a.b.c"], [], "is not a table name"),
                                    ([""], [], "is not a table name"),
                                    (['"a".b"'], [], "is not a table name"),
                                    ([], ["a; drop schema a"], "is not a schema name"),
                                    (["public.orders"], [], "new database only")):
        refusal = check(tables, schemas, "REPLACE" if needle == "new database only" else
                        "NEW_DATABASE")
        assert isinstance(refusal, RestoreRefusal) and refusal.kind == "invalid_input", refusal
        assert needle in refusal.message
