"""The restore plan on synthetic servers: what it creates, what it leaves alone, and each
thing it cannot restore faithfully named as a loss or a blocker."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dr_assets.core.errors import InvalidName
from dr_assets.core.format.server_objects import (
    DatabaseProperties,
    Extension,
    Grant,
    Membership,
    Password,
    PasswordState,
    Role,
    RoleAttributes,
    RoleSettings,
    ServerObjects,
)
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.server_objects import ExistingRole, TargetFacts, read_server_objects
from dr_assets.core.pg.sessions import connection
from dr_assets.core.restore.plan import RestoreOptions, RestorePlan, plan_restore
from dr_assets.core.restore.prepare import setting_sql, split_list_setting
from tests.support.pg import PG_URL
from tests.support.server_objects import OwnedApp

VERIFIER = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"
OBJECTS = ServerObjects(
    server_version="15.6", server_major=15, captured_by="postgres",
    database=DatabaseProperties(
        name="shop", owner="app", encoding="UTF8", collate="en_US.UTF-8", ctype="en_US.UTF-8",
        connection_limit=30, settings=("work_mem=8MB", "search_path=app, \"$user\""),
        role_settings=(RoleSettings("reader", ("statement_timeout=5s",)),),
        grants=(Grant("app", "CONNECT"), Grant("reader", "CONNECT")), comment="the shop"),
    roles=(
        Role("app", RoleAttributes(login=True, connection_limit=20), Password.of(VERIFIER),
             uses=("database_owner", "owner")),
        Role("reader", RoleAttributes(), Password.of(None), uses=("acl", "policy")),
        Role("repl", RoleAttributes(login=True, replication=True),
             Password(PasswordState.NOT_CAPTURED, reason="no pg_authid"), uses=("acl",)),
        Role("alice", RoleAttributes(login=True), Password.of(VERIFIER), uses=("member",)),
    ),
    memberships=(Membership("reader", "alice"), Membership("pg_read_all_data", "reader")),
    extensions=(Extension("pg_trgm", "1.6", "public"),),
)
POSTGRES = ExistingRole(RoleAttributes(login=True, superuser=True, createdb=True,
                                       createrole=True, replication=True, bypassrls=True))
EMPTY = TargetFacts(
    server_version="15.8", server_major=15, current_user="postgres",
    roles={"postgres": POSTGRES, "pg_read_all_data": ExistingRole(RoleAttributes())},
    extensions={"pg_trgm": ("1.6",), "plpgsql": ("1.0",)},
    locales=frozenset({"C", "POSIX", "en_US.utf8"}), icu=True,
    settings=frozenset({"work_mem", "search_path", "statement_timeout"}),
    databases=frozenset({"postgres", "template0", "template1"}))


def plan(facts: TargetFacts = EMPTY, objects: ServerObjects | None = OBJECTS,
         **options: object) -> RestorePlan:
    return plan_restore(objects, facts, backup_id="shop-20261126T060000Z-3f9a",
                        source_version="15.6", target_server="new:5432", target_db="shop",
                        options=RestoreOptions.parse(**options))  # type: ignore[arg-type]


def kinds(p: RestorePlan) -> list[tuple[str, str]]:
    return [(x.kind, x.subject) for x in p.losses]


def test_an_empty_server_gets_every_role_and_the_databases_properties() -> None:
    p = plan()
    assert [r.name for r in p.roles_to_create] == ["app", "reader", "repl", "alice"]
    assert p.blockers == ()
    # Only the role whose password could not be read is a loss.
    assert kinds(p) == [("password_not_captured", "repl")]
    assert {(m.role, m.member) for m in p.memberships} == {("reader", "alice"),
                                                           ("pg_read_all_data", "reader")}
    db = p.database
    assert db is not None and (db.owner, db.collate, db.connection_limit) == ("app",
                                                                            "en_US.UTF-8", 30)
    assert db.role_settings == (RoleSettings("reader", ("statement_timeout=5s",)),)
    assert "captured (SCRAM-SHA-256)" in p.text() and VERIFIER not in p.text()
    assert VERIFIER not in str(p.to_dict())


def test_a_restoring_role_that_is_not_a_superuser_drops_what_only_a_superuser_grants() -> None:
    p = plan(replace(EMPTY, current_user="ops", superuser=False, createrole=True,
                     member_of=frozenset({"ops", "app"})))
    assert ("attribute_dropped", "repl") in kinds(p)
    [repl] = [r for r in p.roles_to_create if r.name == "repl"]
    assert not repl.attributes.replication
    assert any("password verifiers may appear" in n for n in p.notes)
    p = plan(replace(EMPTY, current_user="ops", superuser=False, createrole=False))
    assert any("may not create roles" in b for b in p.blockers)


def test_existing_roles_are_compared_never_changed() -> None:
    other = ExistingRole(RoleAttributes(login=True, connection_limit=5))
    p = plan(replace(EMPTY, roles={**EMPTY.roles, "reader": other,
                                   "alice": ExistingRole(RoleAttributes(login=True))}))
    [reader] = [r for r in p.roles_present if r.name == "reader"]
    assert reader.differences == ("login: backup no, target yes",
                                  "connection limit: backup -1, target 5")
    assert ("role_differs", "reader") in kinds(p)
    # Two existing roles are not made members of each other.
    assert ("membership_not_granted", "alice") in kinds(p)
    assert all(r.name not in {"reader", "alice"} for r in p.roles_to_create)
    assert p.refusal(accept_loss=False) and p.refusal(accept_loss=True) is None


def test_what_the_target_lacks_is_named() -> None:
    p = plan(replace(EMPTY, locales=frozenset({"C"}), settings=frozenset({"search_path"})))
    assert ("locale_unavailable", "shop") in kinds(p)
    assert p.database is not None and p.database.collate == "C"
    assert ("setting_not_applied", "shop") in kinds(p)
    assert ("setting_not_applied", "reader") in kinds(p)
    p = plan(replace(EMPTY, extensions={}))
    assert any("extension pg_trgm" in b for b in p.blockers)
    p = plan(replace(EMPTY, server_major=14, server_version="14.11"))
    assert not p.compatible and p.refusal(accept_loss=True)


def test_no_owner_and_role_map() -> None:
    p = plan(no_owner=True)
    assert "app" not in {r.name for r in p.roles_to_create}  # it only owned things
    assert p.database is not None and p.database.owner == "postgres"
    assert ("postgres", "CONNECT") in {(g.grantee, g.privilege) for g in p.database.grants or ()}
    there = replace(EMPTY, roles={**EMPTY.roles, "owner_there": ExistingRole(RoleAttributes())})
    p = plan(there, role_map=["app=owner_there"])
    assert p.blockers == () and p.database is not None and p.database.owner == "owner_there"
    [temp] = [r for r in p.roles_to_create if r.name == "app"]
    assert temp.temporary
    # With --no-owner a role that only owned objects is not needed, not even for a while.
    p = plan(there, role_map=["app=owner_there"], no_owner=True)
    assert "app" not in {r.name for r in p.roles_to_create} and p.blockers == ()
    assert any("no role nobody" in b for b in plan(role_map=["app=nobody"]).blockers)
    assert any("refers to no role" in b for b in plan(there, role_map=["ghost=owner_there"]
                                                      ).blockers)
    clash = replace(there, roles={**there.roles, "app": ExistingRole(RoleAttributes())})
    assert any("exists on the target" in b for b in plan(clash, role_map=["app=owner_there"]
                                                         ).blockers)


@pytest.mark.parametrize("bad", [{"owner": "pg_monitor"}, {"owner": "x y"},
                                 {"role_map": ["app"]}, {"role_map": ["a=b", "a=c"]},
                                 {"role_map": ['app=x"; drop role y']}])
def test_hostile_or_malformed_options_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidName):
        RestoreOptions.parse(**bad)  # type: ignore[arg-type]


def test_a_version_1_backup_plans_as_before() -> None:
    p = plan(objects=None)
    assert not p.captured and p.losses == () and p.blockers == () and p.database is None
    assert "version-1 backup" in p.notes[0]


def test_list_settings_are_quoted_item_by_item() -> None:
    assert split_list_setting('app, "$user", public') == ["app", "$user", "public"]
    assert split_list_setting('"a ""b"""') == ['a "b"']
    with connection(ConnInfo.parse(f"{PG_URL}/postgres")) as conn:
        assert setting_sql('search_path=app, "$user"').as_string(conn) == \
            "\"search_path\" = 'app', '$user'"
        assert setting_sql("app.tenant=eu, us").as_string(conn) == "\"app\".\"tenant\" = 'eu, us'"


def test_a_backup_role_that_may_not_read_pg_authid_records_why() -> None:
    app = OwnedApp.create()
    try:
        local = ConnInfo.parse(PG_URL)
        with connection(ConnInfo(host=local.host, port=local.port, user=app.app,
                                 dbname=app.db), autocommit=False) as conn:
            objects = read_server_objects(conn)
        assert {r.name for r in objects.roles} >= set(app.roles)
        assert all(r.password.state == PasswordState.NOT_CAPTURED for r in objects.roles)
        assert f"{app.app} may not read pg_authid" in (objects.roles[0].password.reason or "")
        facts = replace(EMPTY, extensions={e: ("1.0", "1.6") for e in (*app.extensions,
                                                                        "plpgsql")})
        losses = kinds(plan_restore(objects, facts, backup_id="x-20261126T060000Z-3f9a",
                                    source_version="15", target_server="t", target_db="t"))
        assert ("password_not_captured", app.app) in losses
        assert ("password_not_captured", app.alice) in losses
        assert ("password_not_captured", app.ro) not in losses  # NOLOGIN: nothing to lose
    finally:
        app.drop()
