"""Restore onto any server: what a database needs from its server travels with the backup,
so a backup restores from the storage alone onto an empty server (a throwaway instance of
the test's own) with its roles, owners, grants, policies, default privileges, settings,
collation and extensions, identical; a plan says first what will happen and what would be
lost, and refuses rather than lose it silently."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg2 import sql

from dr_assets.core.copies.locate import find_manifest
from dr_assets.core.format.manifest import manifest_key, server_objects_key
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.instance import throwaway_instance
from dr_assets.core.pg.server_objects import read_target_facts
from dr_assets.core.pg.sessions import server_major
from dr_assets.core.restore.plan import plan_restore
from dr_assets.core.restore.prepare import load_server_objects
from dr_assets.core.retention.apply import apply_retention
from dr_assets.devstack.seaweed import SeaweedServer
from tests.support.env import DREnv, write_config
from tests.support.pg import PG_URL, db_exists, run_sql, schema_of, table_checksums
from tests.support.server_objects import OwnedApp, picture, renamed

MAJOR = server_major(ConnInfo.parse(PG_URL))
RESTORED = "restored_app"


@pytest.fixture
def owned() -> Iterator[OwnedApp]:
    app = OwnedApp.create()
    yield app
    app.drop()


@pytest.fixture
def env(tmp_path: Path, s3_server: SeaweedServer, catalog_db: str, owned: OwnedApp) -> DREnv:
    apps, prefix = {"owned": owned.db}, f"owned{secrets.token_hex(4)}"
    return DREnv(tmp_path, write_config(tmp_path, s3_server, prefix, catalog_db, apps),
                 s3_server, prefix, apps, catalog_db)


@pytest.fixture
def empty_server() -> Iterator[str]:
    """A brand-new server, nothing on it but what initdb makes: the old server is gone."""
    with throwaway_instance(MAJOR) as instance:
        yield f"postgresql://postgres@127.0.0.1:{instance.port}"


def backed_up(env: DREnv) -> str:
    return str(json.loads(env.drctl("backup", "owned", "--json").stdout)["backup_id"])


def restore(env: DREnv, backup_id: str, server: str, *extra: str,
            check: bool = True) -> tuple[int, Any, str]:
    proc = env.drctl("restore", backup_id, "--from-storage", "--target-url",
                     f"{server}/postgres", "--target-db", RESTORED, "--json", *extra, check=check)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None, proc.stderr


def roles_on(server: str, *names: str) -> set[str]:
    rows = run_sql("postgres", sql.SQL("SELECT rolname FROM pg_roles WHERE rolname = ANY ({})")
                   .format(sql.Literal(list(names))), server)
    return {str(r[0]) for r in rows}


def test_restores_from_storage_onto_an_empty_server_identically(
        owned: OwnedApp, env: DREnv, empty_server: str) -> None:
    backup_id = backed_up(env)
    code, plan, _ = restore(env, backup_id, empty_server, "--plan")
    assert code == 0 and plan["blockers"] == [] and plan["losses"] == []
    assert {r["name"] for r in plan["roles_to_create"]} == set(owned.roles)
    assert all(e["status"] == "available" for e in plan["extensions"])
    assert plan["database"]["owner"] == owned.app and plan["database"]["collate"] == "C"
    # The plan changed nothing.
    assert roles_on(empty_server, *owned.roles) == set()
    assert run_sql("postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{RESTORED}'",
                   empty_server) == [(0,)]

    code, out, _ = restore(env, backup_id, empty_server)
    assert code == 0 and out["target_database"] == RESTORED and out["accepted_losses"] == []
    assert schema_of(RESTORED, empty_server) == schema_of(owned.db)
    assert table_checksums(RESTORED, empty_server) == table_checksums(owned.db)
    source, restored = picture(owned.db, owned.roles), picture(RESTORED, owned.roles, empty_server)
    for part in source:
        assert restored[part] == source[part], part
    assert restored["database"][2:4] == ("C", "C.UTF-8")  # not the target's default
    print(f"\nrestore onto an empty server: {out['seconds']:.2f} s in all, of which "
          f"{out['setup_seconds']:.3f} s for the plan, roles and database properties "
          "(CREATE DATABASE, which every restore makes, not counted)")


def test_no_owner_gives_the_database_and_every_object_to_the_owner(
        owned: OwnedApp, env: DREnv, empty_server: str) -> None:
    keeper = f"{owned.app}_keeper"
    run_sql("postgres", sql.SQL("CREATE ROLE {}").format(sql.Identifier(keeper)), empty_server)
    backup_id = backed_up(env)
    code, _, _ = restore(env, backup_id, empty_server, "--no-owner", "--owner", keeper)
    assert code == 0
    source = picture(owned.db, owned.roles)
    restored = picture(RESTORED, owned.roles, empty_server)
    owners = {str(owner) for kind, name, owner in restored["owners"]
              if kind != "extension" and name != "public"}  # public: pg_database_owner's
    assert owners == {keeper}
    assert restored["database"][0] == keeper
    # Grants, policies and default privileges still name the roles they named.
    assert restored["acls"] == renamed(source["acls"], {owned.app: keeper})
    assert restored["policies"] == source["policies"]
    assert restored["default_acls"] == source["default_acls"]
    assert table_checksums(RESTORED, empty_server) == table_checksums(owned.db)
    assert run_sql("postgres", "SELECT count(*) FROM pg_roles WHERE rolname LIKE "
                   "'dr\\_restore\\_owner\\_%'", empty_server) == [(0,)]


def test_role_map_restores_onto_the_targets_own_roles(
        owned: OwnedApp, env: DREnv, empty_server: str) -> None:
    mapping = {owned.app: f"{owned.app}_there", owned.ro: f"{owned.ro}_there"}
    for role in mapping.values():
        run_sql("postgres", sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)), empty_server)
    backup_id = backed_up(env)
    code, plan, _ = restore(env, backup_id, empty_server, "--plan",
                            *(f"--role-map={o}={n}" for o, n in mapping.items()))
    assert code == 0 and plan["blockers"] == [] and plan["losses"] == []
    assert [r["name"] for r in plan["roles_to_create"] if not r["temporary"]] == [owned.alice]
    code, _, _ = restore(env, backup_id, empty_server,
                         *(f"--role-map={o}={n}" for o, n in mapping.items()))
    assert code == 0
    mapped_roles = (*mapping.values(), owned.alice)
    expected = renamed(picture(owned.db, owned.roles), mapping)
    restored = picture(RESTORED, mapped_roles, empty_server)
    for part in expected:
        if part != "roles":  # the target's roles keep their own attributes
            assert restored[part] == expected[part], part
    assert schema_of(RESTORED, empty_server) == renamed(schema_of(owned.db), mapping)
    assert table_checksums(RESTORED, empty_server) == table_checksums(owned.db)
    # The roles pg_restore needed by their old names are gone again.
    assert roles_on(empty_server, owned.app, owned.ro) == set()


def test_a_same_named_role_with_other_attributes_is_named_and_left_alone(
        owned: OwnedApp, env: DREnv, empty_server: str) -> None:
    run_sql("postgres", sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 3").format(
        sql.Identifier(owned.ro)), empty_server)
    before = picture("postgres", owned.roles, empty_server)["roles"]
    backup_id = backed_up(env)
    code, plan, _ = restore(env, backup_id, empty_server, "--plan", check=False)
    assert code == 1
    [present] = [r for r in plan["roles_present"] if r["name"] == owned.ro]
    assert "login: backup no, target yes" in present["differences"]
    assert "connection limit: backup -1, target 3" in present["differences"]
    assert [x["kind"] for x in plan["losses"]] == ["role_differs"]

    code, _, stderr = restore(env, backup_id, empty_server, check=False)
    assert code == 1 and "exists on the target with other attributes" in stderr
    assert "--accept-loss" in stderr
    assert roles_on(empty_server, *owned.roles) == {owned.ro}  # nothing was created
    assert run_sql("postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{RESTORED}'",
                   empty_server) == [(0,)]

    code, out, _ = restore(env, backup_id, empty_server, "--accept-loss")
    assert code == 0 and len(out["accepted_losses"]) == 1
    after = picture("postgres", owned.roles, empty_server)["roles"]
    assert [r for r in after if r[0] == owned.ro] == before  # never altered
    assert table_checksums(RESTORED, empty_server) == table_checksums(owned.db)


def test_the_plan_refuses_a_missing_extension_and_an_older_server(
        owned: OwnedApp, env: DREnv) -> None:
    """Simulated: this machine has one PostgreSQL build and one major version, so the
    target's facts are the local server's, without the extension or a major lower."""
    if not owned.extensions:
        pytest.skip("no contrib extension (pg_trgm, citext) is available on this machine")
    backup_id = backed_up(env)
    rt = env.runtime()
    manifest = find_manifest(backup_id, rt.stores, None)
    data_key = rt.keyring.get(manifest.encryption.key_id).unwrap(
        manifest.encryption.wrapped_key, manifest.backup_id)
    objects = load_server_objects(manifest, rt.stores, data_key)
    assert objects is not None
    facts = read_target_facts(ConnInfo.parse(f"{PG_URL}/postgres"))
    common = {"backup_id": backup_id, "source_version": manifest.server_version,
              "target_server": "simulated", "target_db": RESTORED}
    assert plan_restore(objects, facts, **common).blockers == ()

    missing = owned.extensions[0]
    lacking = replace(facts, extensions={k: v for k, v in facts.extensions.items()
                                         if k != missing})
    plan = plan_restore(objects, lacking, **common)
    assert [e.status for e in plan.extensions if e.name == missing] == ["missing"]
    assert any(f"extension {missing}" in b and "not available" in b for b in plan.blockers)
    refusal = plan.refusal(accept_loss=True)  # a blocker is never accepted
    assert refusal is not None and missing in refusal

    older = replace(facts, server_major=objects.server_major - 1)
    plan = plan_restore(objects, older, **common)
    assert not plan.compatible
    assert any("older than the backup's" in b for b in plan.blockers)


@pytest.mark.parametrize("extra", [
    ["--role-map", 'x=y"; DROP ROLE postgres; --'],
    ["--role-map", 'a"; DROP ROLE postgres; --=b'],
    ["--role-map", "no-equals-sign"],
    ["--owner", "pg_read_all_data"],
    ["--owner", "a b; DROP DATABASE postgres"],
])
def test_hostile_role_names_are_refused_and_change_nothing(env: DREnv, extra: list[str]) -> None:
    proc = env.drctl("restore", "owned-20261126T060000Z-3f9a", "--target-db", RESTORED,
                     *extra, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("drctl: ")
    assert ("is not an acceptable" in proc.stderr or "is not OLD=NEW" in proc.stderr), proc.stderr
    assert not db_exists(RESTORED)
    assert run_sql("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'postgres'") == [(1,)]


def test_secrets_never_leave_the_encrypted_object(owned: OwnedApp, env: DREnv,
                                                  empty_server: str) -> None:
    [(verifier,)] = run_sql("postgres", sql.SQL(
        "SELECT rolpassword FROM pg_authid WHERE rolname = {}").format(sql.Literal(owned.alice)))
    assert str(verifier).startswith("SCRAM-SHA-256$")
    backup = env.drctl("backup", "owned", "--json")
    backup_id = json.loads(backup.stdout)["backup_id"]
    listed = env.drctl("backups", "--from-storage", "--json")
    [row] = json.loads(listed.stdout)
    assert row["format_version"] == 2 and row["server_objects"] is True
    said = [backup, listed, env.drctl("backups", "--json"), env.drctl("backups", "--from-storage"),
            env.drctl("verify", backup_id)]
    said += [env.drctl("restore", backup_id, "--from-storage", "--target-url",
                       f"{empty_server}/postgres", "--target-db", RESTORED, *args)
             for args in (["--plan"], ["--plan", "--json"], ["--json"])]
    words = "".join(p.stdout + p.stderr for p in said)
    assert "SCRAM-SHA-256$" not in words and str(verifier) not in words
    stored = [env.local_dir / manifest_key(backup_id), env.local_dir / server_objects_key(backup_id)]
    assert all(b"SCRAM-SHA-256$" not in path.read_bytes() for path in stored)
    catalog = run_sql(env.catalog_db, "SELECT manifest::text FROM dr.backups")
    assert catalog and all("SCRAM" not in str(row[0]) for row in catalog)
    # Yet the restored role has its password back.
    [(restored,)] = run_sql("postgres", sql.SQL(
        "SELECT rolpassword FROM pg_authid WHERE rolname = {}").format(sql.Literal(owned.alice)),
        empty_server)
    assert restored == verifier


def test_a_version_1_backup_plans_as_not_captured(tmp_path: Path, s3_server: SeaweedServer,
                                                  catalog_db: str) -> None:
    from tests.core.format.test_format_v1 import BACKUP_ID, v1_env

    env = v1_env(tmp_path, s3_server, catalog_db)
    proc = env.drctl("restore", BACKUP_ID, "--from-storage", "--target-db", "drt_v1_planned",
                     "--plan", "--json")
    plan = json.loads(proc.stdout)
    assert plan["captured"] is False and plan["losses"] == [] and plan["blockers"] == []
    assert any("server objects not captured: version-1 backup" in n for n in plan["notes"])


def test_verify_sync_retention_and_restore_handle_the_server_objects(dr_env: DREnv) -> None:
    first = json.loads(dr_env.drctl("backup", "shop", "--json").stdout)["backup_id"]
    second = json.loads(dr_env.drctl("backup", "shop", "--json").stdout)["backup_id"]
    local = dr_env.local_dir / server_objects_key(first)
    local.unlink()
    proc = dr_env.drctl("verify", first, "--json", check=False)
    assert proc.returncode == 1 and "server.json.zst.enc" in proc.stdout
    sync = json.loads(dr_env.drctl("catalog", "sync", "--json").stdout)
    assert f"{first} -> local" in sync["copies_repaired"] and local.exists()
    dr_env.drctl("verify", first)

    # A damaged server-objects object fails verify for its copy; a restore proves each object
    # on its own, so it reads the intact dump of that copy and the server objects of the other.
    blob = bytearray(local.read_bytes())
    blob[-5] ^= 0xFF
    local.write_bytes(bytes(blob))
    proc = dr_env.drctl("verify", first, "--json", check=False)
    assert proc.returncode == 1 and "the server objects of backup" in proc.stdout
    out = json.loads(dr_env.drctl("restore", first, "--target-db", "drt_srvobj_other",
                                  "--json").stdout)
    try:
        assert out["source_destination"] == "local" and out["skipped_copies"] == {}
        assert run_sql("drt_srvobj_other", "SELECT count(*) FROM orders") == [(20000,)]
    finally:
        run_sql("postgres", "DROP DATABASE IF EXISTS drt_srvobj_other")
    local.unlink()  # sync repairs missing objects (a same-size bad one is verify's to report)
    dr_env.drctl("catalog", "sync")
    dr_env.drctl("verify", first)
    dr_env.drctl("verify", second)

    # Retention deletes it with its backup.
    rt = dr_env.runtime()
    policy = replace(rt.config.app("shop"), retention_days=0, min_keep=1)
    outcome = apply_retention(policy, stores=rt.stores, catalog=rt.catalog, dry_run=False,
                              now=datetime.now(UTC) + timedelta(days=1))
    assert outcome.deleted == [first]
    assert not local.exists()
    assert all(s.size(server_objects_key(first)) is None for s in rt.stores)
    assert all(s.size(server_objects_key(second)) is not None for s in rt.stores)
