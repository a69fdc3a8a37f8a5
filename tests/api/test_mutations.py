"""Mutations launch real Dagster runs through the webserver; every call is audited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from tests.support.api import data, wait_run
from tests.support.pg import db_exists, drop_db, run_sql
from tests.support.stack import Stack

CREATE = """mutation($app: String!) { createBackup(app: $app) { __typename
  ... on RunLaunched { runId job } ... on UnknownApp { message } ... on NotAllowed { message }
  ... on DagsterUnavailable { message } } }"""
RESTORE = """mutation($input: RestoreInput!) { restoreBackup(input: $input) { __typename
  ... on RunLaunched { runId } ... on NotAllowed { message } ... on BackupNotFound { message }
  ... on BackupNotRestorable { message } ... on InvalidInput { message }
  ... on DagsterUnavailable { message } } }"""


def _audit(stack: Stack, action: str) -> list[tuple[object, ...]]:
    return run_sql(stack.catalog_db, "SELECT actor, role, result, arguments::text FROM dr.audit_log"
                                     f" WHERE action = '{action}' ORDER BY id")


def test_create_backup_runs_in_dagster_and_is_listed_with_its_run(stack: Stack) -> None:
    operator = stack.token("operator", "olivia")
    before = data(stack, "{ globalStatus { backups24h { succeeded } } }")["globalStatus"]
    out = data(stack, CREATE, {"app": "shop"}, operator)["createBackup"]
    assert out["__typename"] == "RunLaunched", out
    assert wait_run(stack, out["runId"], operator) == "SUCCESS"
    edges = data(stack, '{ backups(app: "shop", first: 20) { edges { node { backupId runId '
                        "partition status verified } } } }", token=operator)["backups"]["edges"]
    mine = [e["node"] for e in edges if e["node"]["runId"] == out["runId"]]
    assert len(mine) == 1 and mine[0]["status"] == "completed" and mine[0]["verified"] is True
    assert mine[0]["partition"]  # the newest complete window of the schedule
    after = data(stack, "{ globalStatus { backups24h { succeeded } appsMeetingRpo } }")["globalStatus"]
    assert after["backups24h"]["succeeded"] == before["backups24h"]["succeeded"] + 1
    assert after["appsMeetingRpo"] == 1
    assert ("olivia", "operator", "RunLaunched", '{"app": "shop"}') in _audit(stack, "createBackup")

    # A restore by an admin, through restore_job, into a new database.
    admin = stack.token("admin", "ada")
    target = f"{stack.app_db}_restored"
    try:
        out = data(stack, RESTORE, {"input": {"backupId": mine[0]["backupId"],
                                              "targetDatabase": target}}, admin)["restoreBackup"]
        assert out["__typename"] == "RunLaunched", out
        assert wait_run(stack, out["runId"], admin) == "SUCCESS"
        assert run_sql(target, "SELECT count(*) FROM customers") == [(5000,)]
        restores = data(stack, "{ restores { backupId targetDatabase status requestedBy "
                               "dagsterRunId } }", token=admin)["restores"]
        assert {"backupId": mine[0]["backupId"], "targetDatabase": target, "status": "succeeded",
                "requestedBy": "ada", "dagsterRunId": out["runId"]} in restores
    finally:
        drop_db(target)


def test_refusals_and_bad_input_are_typed_audited_and_change_nothing(stack: Stack) -> None:
    viewer = stack.token("viewer", "vic")
    admin = stack.token("admin", "ada")
    count = lambda: run_sql(stack.catalog_db, "SELECT count(*) FROM dr.backups")[0][0]  # noqa: E731
    backups_before = count()
    out = data(stack, RESTORE, {"input": {"backupId": "shop-20261126T000000Z-abcd",
                                          "targetDatabase": "x"}}, viewer)["restoreBackup"]
    assert out["__typename"] == "NotAllowed" and "admin" in out["message"]
    assert _audit(stack, "restoreBackup")[-1][:3] == ("vic", "viewer", "NotAllowed")
    out = data(stack, CREATE, {"app": "shop"})["createBackup"]
    assert out["__typename"] == "NotAllowed"
    assert _audit(stack, "createBackup")[-1][:3] == ("anonymous", "public", "NotAllowed")
    out = data(stack, CREATE, {"app": "payroll"}, admin)["createBackup"]
    assert out["__typename"] == "UnknownApp" and "known apps are shop" in out["message"]
    hostile = 'x"; DROP DATABASE postgres; --'
    out = data(stack, CREATE, {"app": hostile}, admin)["createBackup"]
    assert out["__typename"] == "UnknownApp"
    for bad_id, bad_db, kind in (("../etc/passwd", "fine_name", "InvalidInput"),
                                 ("shop-20990101T000000Z-beef", "fine_name", "BackupNotFound"),
                                 ("shop-20990101T000000Z-beef", hostile, "InvalidInput")):
        out = data(stack, RESTORE, {"input": {"backupId": bad_id, "targetDatabase": bad_db}},
                   admin)["restoreBackup"]
        assert out["__typename"] == kind, (bad_id, bad_db, out)
    assert db_exists("postgres")
    assert count() == backups_before
    ack = data(stack, "mutation { acknowledgeAlert(id: 999999) { __typename "
                      "... on AlertNotFound { message } } }", token=admin)["acknowledgeAlert"]
    assert ack["__typename"] == "AlertNotFound"
    preview = data(stack, 'mutation { applyRetention(app: "shop") { __typename '
                          "... on RetentionPreview { wouldDelete decisions { backupId reason } } } }",
                   token=admin)["applyRetention"]
    assert preview["__typename"] == "RetentionPreview" and preview["wouldDelete"] == []


def test_tampering_with_the_audit_log_is_detected(stack: Stack) -> None:
    data(stack, CREATE, {"app": "payroll"}, stack.token("admin", "ada"))
    drctl = Path(sys.executable).parent / "drctl"
    env = {**os.environ}
    ok = subprocess.run([str(drctl), "--config", str(stack.config_path), "audit", "verify"],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "audit chain intact" in ok.stdout
    refused = subprocess.run(["psql", "-X", "-q", "-d", f"postgresql://postgres@127.0.0.1:5432/"
                              f"{stack.catalog_db}", "-c", "UPDATE dr.audit_log SET actor = 'eve'"],
                             capture_output=True, text=True)
    assert "append-only" in refused.stderr
    # A superuser can still switch the trigger off: the hash chain catches what it then does.
    run_sql(stack.catalog_db, "ALTER TABLE dr.audit_log DISABLE TRIGGER audit_log_no_update;"
                              "UPDATE dr.audit_log SET actor = 'eve' WHERE id = (SELECT min(id) "
                              "FROM dr.audit_log WHERE action = 'createBackup');"
                              "ALTER TABLE dr.audit_log ENABLE TRIGGER audit_log_no_update")
    bad = subprocess.run([str(drctl), "--config", str(stack.config_path), "audit", "verify"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "altered after it was written" in bad.stdout


def _backup_of_shop(stack: Stack, token: str) -> str:
    """The id of a backup of shop taken now, through Dagster."""
    out = data(stack, CREATE, {"app": "shop"}, token)["createBackup"]
    assert wait_run(stack, out["runId"], token) == "SUCCESS"
    edges = data(stack, '{ backups(app: "shop", first: 50) { edges { node { backupId runId } } } }',
                 token=token)["backups"]["edges"]
    [backup_id] = [e["node"]["backupId"] for e in edges if e["node"]["runId"] == out["runId"]]
    return str(backup_id)


def test_admin_restores_in_place_through_dagster_keeping_the_original(stack: Stack) -> None:
    admin = stack.token("admin", "ada")
    backup_id = _backup_of_shop(stack, admin)
    run_sql(stack.app_db, "DELETE FROM customers WHERE id > 10")  # the incident
    out = data(stack, RESTORE, {"input": {"backupId": backup_id, "targetDatabase": stack.app_db,
                                          "mode": "REPLACE", "forceDisconnect": True}},
               admin)["restoreBackup"]
    assert out["__typename"] == "RunLaunched", out
    assert wait_run(stack, out["runId"], admin) == "SUCCESS"
    assert run_sql(stack.app_db, "SELECT count(*) FROM customers") == [(5000,)]
    kept = run_sql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE "
                               f"'{stack.app_db}_pre_restore_%'")
    assert len(kept) == 1 and run_sql(str(kept[0][0]), "SELECT count(*) FROM customers") == [(10,)]
    drop_db(str(kept[0][0]))
    # REPLACE only over the app's own database (tests/security holds the rest of the rule);
    # a new-database restore refuses an existing one.
    out = data(stack, RESTORE, {"input": {"backupId": backup_id, "targetDatabase": "no_such_db",
                                          "mode": "REPLACE"}}, admin)["restoreBackup"]
    assert out["__typename"] == "InvalidInput" and "replace_allowed" in out["message"]
    out = data(stack, RESTORE, {"input": {"backupId": backup_id,
                                          "targetDatabase": stack.app_db}}, admin)["restoreBackup"]
    assert out["__typename"] == "InvalidInput" and "already exists" in out["message"]


def _run_config(stack: Stack, run_id: str) -> dict[str, object]:
    """The run config Dagster holds for a run, asked of its own webserver."""
    resp = httpx.post(f"{stack.dagster_url}/graphql", timeout=30, json={
        "query": "query($id: ID!) { runOrError(runId: $id) { ... on Run { runConfigYaml } } }",
        "variables": {"id": run_id}})
    config: dict[str, object] = yaml.safe_load(resp.json()["data"]["runOrError"]["runConfigYaml"])
    return config


def test_admin_restores_one_table_through_dagster_and_rest(stack: Stack) -> None:
    admin = stack.token("admin", "ada")
    backup_id = _backup_of_shop(stack, admin)
    graph_target, rest_target = f"{stack.app_db}_one", f"{stack.app_db}_one_rest"
    try:
        out = data(stack, RESTORE, {"input": {"backupId": backup_id, "targetDatabase": graph_target,
                                              "tables": ["Public.Customers"]}},
                   admin)["restoreBackup"]
        assert out["__typename"] == "RunLaunched", out
        op = _run_config(stack, out["runId"])["ops"]["restore_backup_op"]  # type: ignore[index]
        assert op["config"]["tables"] == ["public.customers"]  # as checked: folded
        assert "schemas" not in op["config"]
        assert wait_run(stack, out["runId"], admin) == "SUCCESS"
        assert run_sql(graph_target, "SELECT count(*) FROM public.customers") == [(5000,)]
        audited = _audit(stack, "restoreBackup")[-1]
        assert audited[2] == "RunLaunched" and json.loads(str(audited[3]))["tables"] == [
            "Public.Customers"]

        url = f"{stack.api_url}/api/v1/disaster-recovery/restore/{backup_id}"
        headers = {"Authorization": f"Bearer {admin}"}
        rest = httpx.post(url, headers=headers, timeout=60,
                          json={"target_database": rest_target, "tables": ["public.customers"]})
        assert rest.status_code == 202 and rest.json()["__typename"] == "RunLaunched", rest.text
        op = _run_config(stack, rest.json()["runId"])["ops"]["restore_backup_op"]  # type: ignore[index]
        assert op["config"]["tables"] == ["public.customers"]
        assert wait_run(stack, rest.json()["runId"], admin) == "SUCCESS"
        assert db_exists(rest_target)
        for body, status in (({"target_database": "x_rest", "tables": "public.customers"}, 400),
                             ({"target_database": "x_rest", "schemas": [1]}, 400),
                             ({"target_database": "x_rest", "tables": ["x; drop table y"]}, 422)):
            refused = httpx.post(url, headers=headers, json=body, timeout=60)
            assert refused.status_code == status, (body, refused.text)
    finally:
        drop_db(graph_target)
        drop_db(rest_target)

    # Hostile names: a typed refusal, audited, and no run launched.
    runs_before = len(data(stack, "{ restores { id } }", token=admin)["restores"])
    for tables, schemas, needle in ((["x; drop table y"], None, "is not a table name"),
                                    (["a.b.c"], None, "is not a table name"),
                                    ([""], None, "is not a table name"),
                                    (['"shop".orders"'], None, "is not a table name"),
                                    (None, ["shop; drop schema shop"], "is not a schema name")):
        out = data(stack, RESTORE, {"input": {"backupId": backup_id, "targetDatabase": "x_hostile",
                                              "tables": tables, "schemas": schemas}},
                   admin)["restoreBackup"]
        assert out["__typename"] == "InvalidInput" and needle in out["message"], out
        assert _audit(stack, "restoreBackup")[-1][2] == "InvalidInput"
    out = data(stack, RESTORE, {"input": {"backupId": backup_id, "targetDatabase": stack.app_db,
                                          "mode": "REPLACE", "tables": ["public.customers"]}},
               admin)["restoreBackup"]
    assert out["__typename"] == "InvalidInput" and "new database only" in out["message"]
    assert not db_exists("x_hostile") and not db_exists("x_rest")
    assert len(data(stack, "{ restores { id } }", token=admin)["restores"]) == runs_before
