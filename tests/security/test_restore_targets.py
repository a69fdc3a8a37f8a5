"""REPLACE only over the app's own database (or one its replace_allowed names), never over a
system, catalog or Dagster database, and no new database under a name the control plane
makes for itself: the rule in core, then each door (the API and its REST twin, drctl, the
Dagster restore op launched directly with a crafted run config) refusing, audited, having
changed nothing."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import httpx
import pytest

from dr_assets.core.errors import ConfigError
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import database_exists
from dr_assets.core.pg.instance import throwaway_instance
from dr_assets.core.pg.sessions import server_major
from dr_assets.core.policy import DRConfig, load_config
from dr_assets.core.restore.requests import RestoreRefusal, check_restore_request
from dr_assets.core.runs import RESTORE_JOB, RESTORE_OP, restore_launch
from dr_assets.definitions import build_definitions
from tests.security.conftest import Estate, allow
from tests.support.api import ask
from tests.support.pg import PG_URL, db_exists, drop_db, run_sql
from tests.support.tickets import ticket_tags, ticketed

RESTORE = """mutation($input: RestoreInput!) { restoreBackup(input: $input) { __typename
  ... on RunLaunched { runId } ... on InvalidInput { message } ... on BackupNotFound { message }
  ... on DagsterUnavailable { message } } }"""
PITR = """mutation($input: PointInTimeRestoreInput!) { restoreToPointInTime(input: $input) {
  __typename ... on InvalidInput { message } ... on UnknownApp { message }
  ... on DagsterUnavailable { message } } }"""
RESERVED_NEW = ("drill_shop_20260101000000_beef", "shop_pre_restore_20260101000000",
                "shop_restore_20260101000000", "shop_rolled_back_20260101000000",
                "DRILL_shop", "Template1")


def _config(estate: Estate, extra: str = "") -> DRConfig:
    path = estate.env.config_path
    if extra:
        path.write_text(path.read_text() + extra)
    return load_config(path)


def _forbidden(estate: Estate) -> dict[str, str]:
    """REPLACE targets no request may name, and the words of the rule that refuses each."""
    return {"postgres": "system database", "template0": "system database",
            "template1": "system database", estate.env.catalog_db: "the catalog's database",
            "dagster": "Dagster's database", estate.other_db: "database of app other"}


def _untouched(estate: Estate, *never_made: str) -> None:
    """other's rows are all there, nothing was swapped, kept or left as a scratch, and none
    of NEVER_MADE exists."""
    assert run_sql(estate.other_db, "SELECT count(*) FROM ledger") == [(50,)]
    made = run_sql("postgres", "SELECT datname FROM pg_database WHERE datname ~ "
                               "'_(pre_restore|restore|rolled_back)_[0-9]{14}$' "
                               f"AND datname LIKE 'drt_%' AND (datname LIKE '{estate.other_db}%'"
                               f" OR datname LIKE '{estate.env.catalog_db}%' "
                               f" OR datname LIKE '{estate.env.apps['shop']}%')")
    assert made == []
    assert estate.env.runtime().catalog.list_restores() == []
    assert not [name for name in never_made if db_exists(name)]


def _drop_left_behind(estate: Estate, *names: str) -> None:
    """On code without the rule a swap really happened (or NAMES were made): leave none of
    those databases behind."""
    for (name,) in run_sql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE "
                                       f"'{estate.other_db}_%' OR datname LIKE "
                                       f"'{estate.env.catalog_db}_%'"):
        drop_db(str(name))
    for name in names:
        drop_db(name)


def test_the_rule_in_core_names_what_is_refused_and_the_fix(estate: Estate) -> None:
    from dr_assets.core.restore.targets import restore_target_refusal

    config = _config(estate)
    own = estate.env.apps["shop"]
    assert restore_target_refusal(config, "shop", own, "REPLACE") is None
    assert restore_target_refusal(config, "shop", "shop_copy", "NEW_DATABASE") is None
    for target, rule in _forbidden(estate).items():
        refusal = restore_target_refusal(config, "shop", target, "REPLACE")
        assert refusal is not None and rule in refusal, (target, refusal)
    refusal = restore_target_refusal(config, "shop", estate.other_db, "REPLACE")
    assert refusal is not None and "[apps.shop] replace_allowed" in refusal
    assert own in refusal  # the app's own database is named as the one allowed
    for target in ("postgres", "template1", estate.env.catalog_db, "dagster", *RESERVED_NEW):
        refusal = restore_target_refusal(config, "shop", target, "NEW_DATABASE")
        assert refusal is not None and "another name" in refusal, (target, refusal)
    # An app no longer in dr.toml has no own database: nothing may be replaced for it.
    gone = restore_target_refusal(config, "retired", own, "REPLACE")
    assert gone is not None and "not in dr.toml" in gone

    # The per-app allowlist opens exactly the databases it names, for that app only.
    allow(estate.env.config_path, f'["{estate.other_db}", "drt_no_such_db"]')
    allowed = load_config(estate.env.config_path)
    assert allowed.apps["shop"].replace_allowed == (estate.other_db, "drt_no_such_db")
    assert restore_target_refusal(allowed, "shop", estate.other_db, "REPLACE") is None
    assert restore_target_refusal(allowed, "other", own, "REPLACE") is not None
    assert restore_target_refusal(allowed, "shop", "template1", "REPLACE") is not None
    # An allowed name must still exist to be replaced (the API's check asks the server).
    missing = check_restore_request(allowed, estate.env.runtime().catalog, estate.backup_id,
                                    "drt_no_such_db", "REPLACE")
    assert isinstance(missing, RestoreRefusal) and "does not exist" in missing.message


@pytest.mark.parametrize(("value", "needle"), [
    ('"template1"', "is a system database"),
    ('["template1"]', "is a system database"),
    ('["CATALOG"]', "is the catalog's database"),
    ('["dagster"]', "is Dagster's database"),
    ('["shop\\n"]', "is not an acceptable database name"),
    ('["a", "a"]', "duplicate 'a'"),
    ("[1]", "must be a string"),
])
def test_replace_allowed_is_validated_at_load(estate_config: Path, value: str,
                                              needle: str) -> None:
    value = value.replace("CATALOG", "drt_catalog")
    path = estate_config
    allow(path, value)
    if value.startswith('"'):
        needle = "must be a list"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "apps.shop.replace_allowed" in str(caught.value) and needle in str(caught.value)


def test_dagster_database_comes_from_dr_toml_else_dagster_pg_db(
        estate_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dr_assets.core.restore.targets import restore_target_refusal

    path = estate_config
    monkeypatch.delenv("DAGSTER_PG_DB", raising=False)
    assert load_config(path).dagster_database == "dagster"
    monkeypatch.setenv("DAGSTER_PG_DB", "dagster_runs")
    config = load_config(path)
    assert config.dagster_database == "dagster_runs"
    refusal = restore_target_refusal(config, "shop", "dagster_runs", "NEW_DATABASE")
    assert refusal is not None and "Dagster's database" in refusal
    path.write_text(path.read_text() + '[dagster]\ndatabase = "dr_dagster"\n')
    assert load_config(path).dagster_database == "dr_dagster"
    path.write_text(path.read_text().replace('database = "dr_dagster"', 'database = "a\\nb"'))
    with pytest.raises(ConfigError, match="dagster.database"):
        load_config(path)


def test_the_api_refuses_forbidden_targets_typed_audited_and_changing_nothing(
        estate: Estate, estate_api: str) -> None:
    admin = estate.token()
    catalog = estate.env.runtime().catalog
    attempts = [(t, "REPLACE", rule) for t, rule in _forbidden(estate).items()]
    attempts += [(t, "NEW_DATABASE", "reserved") for t in RESERVED_NEW if t != "Template1"]
    attempts += [("Template1", "NEW_DATABASE", "system database")]
    for target, mode, rule in attempts:
        _, body = ask(estate_api, RESTORE, admin, {"input": {
            "backupId": estate.backup_id, "targetDatabase": target, "mode": mode,
            "forceDisconnect": True}})
        out = body["data"]["restoreBackup"]
        assert out["__typename"] == "InvalidInput" and rule in out["message"], (target, out)
        [row] = catalog.audit_page(first=1, action="restoreBackup")
        assert (row.actor, row.result) == ("mallory", "InvalidInput")
        assert row.arguments["target_database"] == target and rule in (row.detail or "")

    # The REST twin (a new database only) refuses the same way: 422 and the rule.
    resp = httpx.post(f"{estate_api}/api/v1/disaster-recovery/restore/{estate.backup_id}",
                      json={"target_database": "shop_pre_restore_20260101000000"},
                      headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    assert resp.status_code == 422 and "reserved" in resp.json()["message"], resp.text
    # A point-in-time restore makes a new database too: same reserved names.
    _, body = ask(estate_api, PITR, admin, {"input": {
        "app": "shop", "targetDatabase": "drill_shop_1", "toLatest": True}})
    out = body["data"]["restoreToPointInTime"]
    assert out["__typename"] == "InvalidInput" and "drill's scratch" in out["message"], out
    _untouched(estate, "shop_pre_restore_20260101000000", "drill_shop_1")


def test_the_restore_op_refuses_a_crafted_run_config_before_doing_anything(estate: Estate) -> None:
    job = build_definitions(str(estate.env.config_path)).get_job_def(RESTORE_JOB)
    instance = dg.DagsterInstance.ephemeral()
    catalog = estate.env.runtime().catalog
    try:
        for target, mode, rule in ((estate.other_db, "REPLACE", "database of app other"),
                                   (estate.env.catalog_db, "REPLACE", "the catalog's database"),
                                   ("shop_pre_restore_20260101000000", "NEW_DATABASE", "reserved")):
            request = restore_launch("shop", estate.backup_id, target, mode,
                                     force_disconnect=True, requested_by="forged-admin")
            # A ticket good for the run as asked: the op's own check of the target holds
            # whoever signed it.
            result = job.execute_in_process(
                run_config=dict(request.run_config), instance=instance, raise_on_error=False,
                tags=ticketed(estate.env.config_path, request, who="forged-admin"))
            assert not result.success
            [failure] = [e for e in result.all_events if e.is_step_failure]
            message = failure.step_failure_data.error.message  # type: ignore[union-attr]
            assert rule in message, message
            [row] = catalog.audit_page(first=1, action="restore")
            assert (row.actor, row.role, row.result) == ("dagster:forged-admin", "dagster",
                                                         "refused")
            assert row.arguments["target_database"] == target
        _untouched(estate, "shop_pre_restore_20260101000000")
    finally:
        _drop_left_behind(estate, "shop_pre_restore_20260101000000")


def test_drctl_refuses_forbidden_targets_audited(estate: Estate) -> None:
    try:
        for args, rule in (
                (("--replace", "--yes", "--force-disconnect", "--target-db", estate.other_db),
                 "database of app other"),
                (("--target-db", "shop_rolled_back_20260101000000"), "reserved")):
            proc = estate.env.drctl("restore", estate.backup_id, *args, check=False)
            assert proc.returncode != 0 and rule in proc.stderr, proc.stderr
            assert "replace_allowed" in proc.stderr or "choose another name" in proc.stderr
            [row] = estate.env.runtime().catalog.audit_page(first=1, action="restore")
            assert row.result == "refused" and rule in (row.detail or "")
        _untouched(estate, "shop_rolled_back_20260101000000")
    finally:
        _drop_left_behind(estate, "shop_rolled_back_20260101000000")


def test_replace_allowed_lets_drctl_replace_the_named_database(estate: Estate) -> None:
    """The allowlist is a real door: with it, the same REPLACE goes through (and the
    original is kept, as for the app's own database)."""
    allow(estate.env.config_path, f'["{estate.other_db}"]')
    try:
        estate.env.drctl("restore", estate.backup_id, "--replace", "--yes",
                         "--force-disconnect", "--target-db", estate.other_db)
        assert run_sql(estate.other_db, "SELECT count(*) FROM customers") == [(3000,)]
    finally:
        _drop_left_behind(estate)


def test_the_restore_op_writes_no_server_dr_toml_does_not_allow(estate: Estate) -> None:
    """Issue 15 item 1: a crafted run config's target_url would have the run decrypt the
    backup and write it to any server. Refused (audited, the server untouched) until
    `[restore] allowed_servers` lists it; then the same run config restores there."""
    catalog = estate.env.runtime().catalog
    request = restore_launch("shop", estate.backup_id, "stolen", "NEW_DATABASE",
                             force_disconnect=False, requested_by="mallory")
    with throwaway_instance(server_major(ConnInfo.parse(PG_URL))) as elsewhere:
        url = f"postgresql://postgres@127.0.0.1:{elsewhere.port}"
        run_config = dict(request.run_config)
        run_config["ops"][RESTORE_OP]["config"]["target_url"] = url  # type: ignore[index]
        refused = build_definitions(str(estate.env.config_path)).get_job_def(
            RESTORE_JOB).execute_in_process(
                run_config=run_config, instance=dg.DagsterInstance.ephemeral(),
                raise_on_error=False,
                tags=ticket_tags(estate.env.config_path, RESTORE_JOB, run_config, who="mallory"))
        assert not refused.success
        [failure] = [e for e in refused.all_events if e.is_step_failure]
        message = failure.step_failure_data.error.message  # type: ignore[union-attr]
        assert f"127.0.0.1:{elsewhere.port} refused" in message and "allowed_servers" in message
        [row] = catalog.audit_page(first=1, action="restore")
        assert (row.actor, row.result) == ("dagster:mallory", "refused")
        assert row.arguments["target_url"] == url
        assert not database_exists(ConnInfo.parse(url), "stolen")

        config = _config(estate, f'[restore]\nallowed_servers = ["127.0.0.1:{elsewhere.port}"]\n')
        assert config.restore.allowed_servers == (f"127.0.0.1:{elsewhere.port}",)
        allowed = build_definitions(str(estate.env.config_path)).get_job_def(
            RESTORE_JOB).execute_in_process(
                run_config=run_config, instance=dg.DagsterInstance.ephemeral(),
                tags=ticket_tags(estate.env.config_path, RESTORE_JOB, run_config))
        assert allowed.success and database_exists(ConnInfo.parse(url), "stolen")


@pytest.mark.parametrize("value", ['["10.0.0.1"]', '["10.0.0.1:0"]', '["a b:5432"]',
                                   '["host:54x"]', '[5432]', '"10.0.0.1:5432"'])
def test_allowed_servers_are_validated_at_load(estate_config: Path, value: str) -> None:
    estate_config.write_text(estate_config.read_text() + f"[restore]\nallowed_servers = {value}\n")
    with pytest.raises(ConfigError, match=r"restore\.allowed_servers"):
        load_config(estate_config)
