"""Issue 15 item 1: Dagster's webserver launches any run config for anyone who reaches it.
A restore (in place, with forced disconnects), retention, a drill or a point-in-time drill
launched there without the API is refused by its op before it does anything, audited,
unless it carries a launch ticket minted where the asking was checked, for exactly that
run, not expired, used once. Each attack runs the real job in process against the real
catalog, stores and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dr_assets.core.access.tickets import TicketKey, TicketKeys, mint_ticket
from dr_assets.core.errors import ConfigError, MasterKeyError
from dr_assets.core.format.keys import generate_key_file
from dr_assets.core.policy import load_config
from dr_assets.core.runs import (
    DRILL_JOB,
    RESTORE_JOB,
    RESTORE_OP,
    RETENTION_JOB,
    RETENTION_OP,
    TAG_REQUESTED_BY,
    TAG_TICKET,
    drill_launch,
    restore_launch,
    retention_launch,
)
from dr_assets.definitions import build_definitions
from dr_assets.defs.resources import DRResource
from tests.security.conftest import Estate
from tests.support.pg import run_sql
from tests.support.tickets import ticketed


def _run(estate: Estate, job_name: str, run_config: dict[str, Any],
         tags: dict[str, str], instance: dg.DagsterInstance | None = None
         ) -> dg.ExecuteInProcessResult:
    job = build_definitions(str(estate.env.config_path)).get_job_def(job_name)
    return job.execute_in_process(run_config=run_config, tags=tags, raise_on_error=False,
                                  instance=instance or dg.DagsterInstance.ephemeral())


def _failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return str(failure.step_failure_data.error.message)  # type: ignore[union-attr]


def _refusal_row(estate: Estate, action: str) -> Any:
    [row] = estate.env.runtime().catalog.audit_page(first=1, action=action)
    assert row.result == "refused" and row.role == "dagster"
    return row


def _replace_shop(estate: Estate) -> dict[str, Any]:
    """The attack of the issue: REPLACE over the app's database, sessions ended."""
    request = restore_launch("shop", estate.backup_id, estate.env.apps["shop"], "REPLACE",
                             force_disconnect=True, requested_by="ceo")
    return dict(request.run_config)


def _customers(estate: Estate, db: str | None = None) -> list[Any]:
    return run_sql(db or estate.env.apps["shop"], "SELECT count(*) FROM customers")


def _shop_untouched(estate: Estate, before: list[Any]) -> None:
    assert _customers(estate) == before
    assert not run_sql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE "
                                   f"'{estate.env.apps['shop']}_pre_restore_%'")
    assert estate.env.runtime().catalog.list_restores() == []


def test_a_restore_without_a_ticket_fails_at_once_audited_having_done_nothing(
        estate: Estate) -> None:
    before = _customers(estate)
    result = _run(estate, RESTORE_JOB, _replace_shop(estate), {TAG_REQUESTED_BY: "ceo"})
    message = _failure(result)
    assert "restore refused: the run has no launch ticket (tag dr/ticket)" in message
    assert "drctl ticket mint" in message
    row = _refusal_row(estate, "restore")
    assert row.actor == "dagster:ceo" and "no launch ticket" in (row.detail or "")
    assert row.arguments["target_database"] == estate.env.apps["shop"]
    assert row.arguments["mode"] == "REPLACE"
    _shop_untouched(estate, before)


def test_a_ticket_binds_the_exact_run_config(estate: Estate) -> None:
    """A ticket minted for a new database, its run config changed to REPLACE the app's
    database with forced disconnects: refused, naming what differs."""
    before = _customers(estate)
    asked = restore_launch("shop", estate.backup_id, "shop_copy", "NEW_DATABASE",
                           force_disconnect=False, requested_by="ada")
    tags = ticketed(estate.env.config_path, asked, who="ada")
    message = _failure(_run(estate, RESTORE_JOB, _replace_shop(estate), tags))
    assert "force_disconnect, mode, target_database differ from what its launch ticket" in message
    _refusal_row(estate, "restore")
    _shop_untouched(estate, before)
    assert not run_sql("postgres", "SELECT 1 FROM pg_database WHERE datname = 'shop_copy'")


def test_forged_altered_expired_and_foreign_tickets_are_refused(estate: Estate) -> None:
    config = _replace_shop(estate)
    args = config["ops"][RESTORE_OP]["config"]
    keys = estate.env.runtime().ticket_keys
    now = datetime.now(UTC)
    other_key = TicketKeys(TicketKey("t-not-ours", os.urandom(32)))
    good = mint_ticket(keys, who="ada", role="admin", action="restore", args=args, now=now)
    body, _, signature = good.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["who"] = "root"  # the signed body altered, the signature kept
    altered = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    cases = {
        "signed with key": mint_ticket(other_key, who="ada", role="admin", action="restore",
                                       args=args, now=now),
        "signature does not match": f"{altered}.{signature}",
        "expired at": mint_ticket(keys, who="ada", role="admin", action="restore", args=args,
                                  now=now - timedelta(hours=1)),
        "is for \"retention\", not restore": mint_ticket(keys, who="ada", role="admin",
                                                     action="retention", args=args, now=now),
        "malformed": "not-a-ticket",
        "characters, over": "x" * 20000,
    }
    before = _customers(estate)
    for words, ticket in cases.items():
        message = _failure(_run(estate, RESTORE_JOB, config, {TAG_TICKET: ticket}))
        assert words in message, (words, message)
    _shop_untouched(estate, before)


def test_a_ticket_launches_one_run_and_names_who_asked(estate: Estate) -> None:
    """A good ticket restores, and the restore is recorded as asked by the ticket's holder,
    not by the run config's free text; the same ticket on a second run is refused."""
    request = restore_launch("shop", estate.backup_id, "shop_copy", "NEW_DATABASE",
                             force_disconnect=False, requested_by="the-ceo-honest")
    tags = ticketed(estate.env.config_path, request, who="ada", role="admin")
    instance = dg.DagsterInstance.ephemeral()
    try:
        done = _run(estate, RESTORE_JOB, dict(request.run_config), tags, instance)
        assert done.success
        catalog = estate.env.runtime().catalog
        [restore] = catalog.list_restores()
        assert (restore.requested_by, restore.dagster_run_id) == ("ada", done.run_id)
        assert _customers(estate, "shop_copy") == _customers(estate)
        [used] = run_sql(estate.env.catalog_db, "SELECT run_id, who, role, action, args->>"
                                                "'target_database' FROM dr.launch_tickets")
        assert used == (done.run_id, "ada", "admin", "restore", "shop_copy")

        again = _run(estate, RESTORE_JOB, dict(request.run_config), tags, instance)
        message = _failure(again)
        assert f"the launch ticket was used already, by run {done.run_id}" in message
        assert len(catalog.list_restores()) == 1
    finally:
        run_sql("postgres", "DROP DATABASE IF EXISTS shop_copy")


def test_retention_without_a_ticket_deletes_nothing(estate: Estate) -> None:
    config = {"ops": {RETENTION_OP: {"config": {"app": "shop"}}}}
    run_sql(estate.env.catalog_db, "UPDATE dr.backups SET started_at = now() - interval "
                                   "'400 days'")
    message = _failure(_run(estate, RETENTION_JOB, config, {}))
    assert "retention refused: the run has no launch ticket" in message
    _refusal_row(estate, "retention")
    row = estate.env.runtime().catalog.get_backup(estate.backup_id)
    assert row is not None and row.status != "deleted"
    # With a ticket for another app, still nothing.
    other = ticketed(estate.env.config_path, retention_launch("other"))
    assert "app differ" in _failure(_run(estate, RETENTION_JOB, config, other))
    assert estate.env.runtime().catalog.get_backup(estate.backup_id).status != "deleted"  # type: ignore[union-attr]


def test_a_drill_without_a_ticket_makes_no_scratch_database(estate: Estate) -> None:
    defs = build_definitions(str(estate.env.config_path))
    job = defs.resolve_job_def(DRILL_JOB)
    before = run_sql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'drill_%'")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
        asset_selection=[dg.AssetKey(["shop", "restore_drill"])])
    assert "drill refused: the run has no launch ticket" in _failure(result)
    _refusal_row(estate, "drill")
    assert estate.env.runtime().catalog.list_drills(app="shop") == []
    assert run_sql("postgres", "SELECT count(*) FROM pg_database "
                               "WHERE datname LIKE 'drill_%'") == before
    # A ticket for other's drill does not open shop's.
    tags = ticketed(estate.env.config_path, drill_launch("other"))
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, tags=tags,
        asset_selection=[dg.AssetKey(["shop", "restore_drill"])])
    assert "apps differ" in _failure(result)


def test_schedules_mint_tickets_their_runs_accept(estate: Estate) -> None:
    """The daily retention schedule's run, as the daemon would launch it, passes its op's
    check (and the drill schedules' tickets are checked in tests/defs/test_scale.py)."""
    repo = build_definitions(str(estate.env.config_path)).get_repository_def()
    with dg.DagsterInstance.ephemeral() as instance:
        ctx = dg.build_schedule_context(
            instance=instance, repository_def=repo,
            resources={"dr": DRResource(config_path=str(estate.env.config_path))})
        [request] = repo.get_schedule_def("retention_schedule").evaluate_tick(ctx).run_requests or []
        assert request.tags[TAG_REQUESTED_BY] == "schedule:retention_schedule"
        result = _run(estate, RETENTION_JOB, request.run_config, dict(request.tags), instance)
    assert result.success, _failure(result)
    row = estate.env.runtime().catalog.get_backup(estate.backup_id)
    assert row is not None and row.status != "deleted"  # young: kept


def test_drctl_mints_a_ticket_for_a_hand_launched_run(estate: Estate, tmp_path: Path) -> None:
    request = restore_launch("shop", estate.backup_id, "shop_by_hand", "NEW_DATABASE",
                             force_disconnect=False, requested_by="")
    run_config = dict(request.run_config)
    config_file = tmp_path / "run.json"
    config_file.write_text(json.dumps(run_config))
    proc = estate.env.drctl("ticket", "mint", RESTORE_JOB, "--run-config", str(config_file),
                            "--as", "grace", "--json")
    minted = json.loads(proc.stdout)
    assert minted["tag"] == TAG_TICKET and minted["action"] == "restore"
    assert minted["args"]["target_database"] == "shop_by_hand"
    try:
        done = _run(estate, RESTORE_JOB, run_config, {TAG_TICKET: minted["ticket"]})
        assert done.success
        [restore] = estate.env.runtime().catalog.list_restores()
        assert restore.requested_by == "grace"
    finally:
        run_sql("postgres", "DROP DATABASE IF EXISTS shop_by_hand")
    # A job whose runs need none, and an unknown app: clear errors, no ticket.
    bad = estate.env.drctl("ticket", "mint", "catalog_sync_job", check=False)
    assert bad.returncode == 1 and "need no ticket" in bad.stderr
    bad = estate.env.drctl("ticket", "mint", DRILL_JOB, "--app", "nope", check=False)
    assert bad.returncode == 1 and "nope" in bad.stderr


def test_ticket_keys_rotate_like_the_master_key(estate: Estate) -> None:
    """With keys of their own: a ticket minted before a rotation still launches while the
    old key is among previous_key_files, and is refused once it is not."""
    root = estate.env.root
    old, new = root / "keys" / "ticket-1.key", root / "keys" / "ticket-2.key"
    generate_key_file(old)
    generate_key_file(new)
    path = estate.env.config_path
    text = path.read_text()
    request = restore_launch("shop", estate.backup_id, "shop_rotated", "NEW_DATABASE",
                             force_disconnect=False, requested_by="ada")
    path.write_text(text + f'[launch_tickets]\nkey_file = "{old}"\n')
    tags = ticketed(path, request)
    path.write_text(text + f'[launch_tickets]\nkey_file = "{new}"\n'
                           f'previous_key_files = ["{old}"]\n')
    try:
        assert _run(estate, RESTORE_JOB, dict(request.run_config), tags).success
    finally:
        run_sql("postgres", "DROP DATABASE IF EXISTS shop_rotated")
    # The old key retired: a ticket it signed (not used yet) no longer launches anything.
    path.write_text(text + f'[launch_tickets]\nkey_file = "{old}"\n')
    unused = ticketed(path, request)
    path.write_text(text + f'[launch_tickets]\nkey_file = "{new}"\n')
    assert "which this control plane does not hold" in _failure(
        _run(estate, RESTORE_JOB, dict(request.run_config), unused))


@pytest.mark.parametrize(("table", "words"), [
    ("ttl_minutes = 0", "launch_tickets.ttl_minutes"),
    ("ttl_minutes = 5000", "launch_tickets.ttl_minutes"),
    ('previous_key_files = ["a.key"]', "needs key_file"),
    ("key_file = 5", "launch_tickets.key_file"),
    ("signing = true", "launch_tickets"),
])
def test_launch_ticket_settings_are_checked_at_load(estate_config: Path, table: str,
                                                    words: str) -> None:
    estate_config.write_text(estate_config.read_text() + f"[launch_tickets]\n{table}\n")
    with pytest.raises(ConfigError, match=words):
        load_config(estate_config)


def test_a_ticket_key_file_open_to_others_is_refused(estate: Estate) -> None:
    key = estate.env.root / "keys" / "ticket.key"
    generate_key_file(key)
    key.chmod(0o644)
    path = estate.env.config_path
    path.write_text(path.read_text() + f'[launch_tickets]\nkey_file = "{key}"\n')
    request = restore_launch("shop", estate.backup_id, "x", "NEW_DATABASE",
                             force_disconnect=False, requested_by="ada")
    with pytest.raises(MasterKeyError, match="chmod 600"):
        ticketed(path, request)
