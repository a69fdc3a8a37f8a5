"""Launch tickets without a server or a run: what a ticket binds, and that the launcher's request and
the op's config (its defaults filled in) bind the same arguments for every ticketed job."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from dr_assets.core.access.tickets import (
    DRILL,
    PITR_DRILL,
    RESTORE,
    RETENTION,
    TicketKey,
    TicketKeys,
    action_arguments,
    load_ticket_keys,
    verify_ticket,
)
from dr_assets.core.errors import TicketRefused
from dr_assets.core.format.keys import Keyring, MasterKey
from dr_assets.core.policy import AppPolicy, LaunchTicketSettings
from dr_assets.core.runs import (
    TAG_REQUESTED_BY,
    TAG_TICKET,
    backup_launch,
    drill_launch,
    pitr_drill_launch,
    point_in_time_restore_launch,
    restore_launch,
    retention_launch,
)
from dr_assets.defs.ops import RestoreConfig, RetentionConfig
from dr_assets.defs.pitr_drills import PitrDrillConfig

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
KEYS = TicketKeys(TicketKey("t-test", os.urandom(32)))


def _verified(request_tags: dict[str, str], action: str, args: dict[str, object]) -> str:
    ticket = verify_ticket(KEYS, request_tags[TAG_TICKET], action=action, args=args,
                           run_created=NOW + timedelta(minutes=1))
    return ticket.who


def test_every_ticketed_launch_verifies_against_its_ops_config_with_defaults() -> None:
    restore = restore_launch("shop", "b1", "shop_copy", "NEW_DATABASE", force_disconnect=False,
                             requested_by="x", tables=["public.orders"])
    pitr = point_in_time_restore_launch("shop", "shop_then", requested_by="x", to_latest=True)
    for request, config in ((restore, RestoreConfig), (pitr, RestoreConfig)):
        tags = dict(request.ticketed(KEYS, who="ada", role="admin", now=NOW).tags)
        given = request.op_config("restore_backup_op")
        assert _verified(tags, RESTORE, config(**given).model_dump()) == "ada"
        assert tags[TAG_REQUESTED_BY] == "ada"
    for request in (retention_launch("shop"), retention_launch()):
        tags = dict(request.ticketed(KEYS, who="s", role="scheduler", now=NOW).tags)
        dumped = RetentionConfig(**request.op_config("retention_op")).model_dump()
        assert _verified(tags, RETENTION, dumped) == "s"
    tags = dict(drill_launch("shop").ticketed(KEYS, who="s", role="scheduler", now=NOW).tags)
    assert _verified(tags, DRILL, {"apps": ["shop"]}) == "s"
    tags = dict(pitr_drill_launch("main").ticketed(KEYS, who="s", role="scheduler", now=NOW).tags)
    assert _verified(tags, PITR_DRILL, {"server": "main", **PitrDrillConfig().model_dump()}) == "s"


def test_runs_that_write_nothing_carry_no_ticket() -> None:
    request = backup_launch(AppPolicy(name="shop", database_url="postgresql://h/shop",
                                      rto_hours=4, rpo_hours=24, every_hours=6,
                                      retention_days=30, critical=False), None)
    tags = request.ticketed(KEYS, who="ada", role="operator", now=NOW).tags
    assert TAG_TICKET not in tags and tags[TAG_REQUESTED_BY] == "ada"


def test_arguments_leave_out_who_and_defaults_only() -> None:
    assert action_arguments({"requested_by": "x", "mode": "REPLACE", "force_disconnect": False,
                             "tables": [], "target_url": "", "to_latest": True}) == {
        "mode": "REPLACE", "to_latest": True}


def test_derived_ticket_keys_follow_the_master_keyring() -> None:
    """Without [launch_tickets] key_file, a rotation of the master key rotates the ticket
    key too; a ticket of the previous master key verifies while that key is configured."""
    old, new = MasterKey.from_bytes(os.urandom(32)), MasterKey.from_bytes(os.urandom(32))
    before = load_ticket_keys(LaunchTicketSettings(), Keyring(old))
    after = load_ticket_keys(LaunchTicketSettings(), Keyring(new, (old,)))
    retired = load_ticket_keys(LaunchTicketSettings(), Keyring(new))
    assert before.current.key_id != after.current.key_id
    assert before.current.key_id not in (old.key_id, new.key_id)  # says nothing of the master
    tags = dict(drill_launch("shop").ticketed(before, who="a", role="admin", now=NOW).tags)
    args = {"apps": ["shop"]}
    assert verify_ticket(after, tags[TAG_TICKET], action=DRILL, args=args,
                         run_created=NOW).who == "a"
    with pytest.raises(TicketRefused, match="does not hold"):
        verify_ticket(retired, tags[TAG_TICKET], action=DRILL, args=args, run_created=NOW)


def test_a_ticket_minted_after_its_run_was_created_is_refused() -> None:
    tags = dict(drill_launch("shop").ticketed(KEYS, who="a", role="admin", now=NOW).tags)
    with pytest.raises(TicketRefused, match="after the run was created"):
        verify_ticket(KEYS, tags[TAG_TICKET], action=DRILL, args={"apps": ["shop"]},
                      run_created=NOW - timedelta(minutes=5))
    verify_ticket(KEYS, tags[TAG_TICKET], action=DRILL, args={"apps": ["shop"]},
                  run_created=NOW - timedelta(seconds=30))  # within the clock skew
