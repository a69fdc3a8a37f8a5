"""Which databases a restore may write, by name: the rule every door applies (the API's
check before launching, `drctl restore`, and the Dagster restore op again before it does
anything). Pure: dr.toml's settings and the names alone, no server is asked.

- Never PostgreSQL's own databases (postgres, template0, template1), the catalog's or
  Dagster's: not in place, not as a new database.
- In place (REPLACE) only over the app's own database (the one in its database_url) or a
  database its `[apps.NAME] replace_allowed` names.
- The server: a restore launched through Dagster writes the app's own server or one
  `[restore] allowed_servers` lists (target_server_refusal), never one a run config names.
- A new database never under a name the control plane makes for itself: a drill's scratch
  database (drill_*) or an in-place restore's scratch, kept or rolled-back database
  (NAME_restore_*, NAME_pre_restore_*, NAME_rolled_back_* with a 14-digit stamp), which
  `drctl rollback` would take for an earlier version of NAME.
"""

from __future__ import annotations

import re

from dr_assets.core.errors import DRError, RestoreError
from dr_assets.core.names import SYSTEM_DATABASES
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.policy import DRConfig
from dr_assets.core.restore.in_place import (
    DERIVED_SUFFIXES,
    KEPT_SUFFIX,
    ROLLED_BACK_SUFFIX,
    SCRATCH_SUFFIX,
)
from dr_assets.core.restore.restore import MODE_REPLACE

DRILL_SCRATCH_PREFIX = "drill_"
_DERIVED = re.compile(".*(?:" + "|".join(DERIVED_SUFFIXES) + ")[0-9]{14}", re.ASCII)


class RestoreTargetRefused(RestoreError):
    """A restore named a database it may not write; nothing was done."""


def control_plane_database(config: DRConfig, name: str) -> str | None:
    """What `name` is to the control plane when no restore may write it, else None."""
    if name.lower() in SYSTEM_DATABASES:
        return "a PostgreSQL system database"
    if name == config.catalog_database:
        return "the catalog's database ([catalog] database_url)"
    if name == config.dagster_database:
        return "Dagster's database ([dagster] database)"
    return None


def made_by_the_control_plane(name: str) -> str | None:
    """Which of the control plane's own databases `name` would pass for, else None."""
    if name.lower().startswith(DRILL_SCRATCH_PREFIX):
        return f"the name of a drill's scratch database ({DRILL_SCRATCH_PREFIX}*)"
    if _DERIVED.fullmatch(name.lower()):
        return ("the name of an in-place restore's scratch, kept or rolled-back database "
                f"(NAME{SCRATCH_SUFFIX}*, NAME{KEPT_SUFFIX}*, NAME{ROLLED_BACK_SUFFIX}* with a "
                "timestamp), which rollback would take for an earlier version")
    return None


def restore_target_refusal(config: DRConfig, app: str, target_db: str, mode: str) -> str | None:
    """Why a restore of a backup of APP may not write TARGET_DB in MODE (a sentence naming
    the rule and the fix), or None when it may."""
    what = control_plane_database(config, target_db)
    if what is not None:
        return (f"database {target_db} is {what}: no restore writes it, in place or new; "
                "restore into a new database of another name")
    if mode == MODE_REPLACE:
        policy = config.apps.get(app)
        own = policy.database_name if policy is not None else None
        if target_db == own or (policy is not None and target_db in policy.replace_allowed):
            return None
        owners = sorted(a for a, p in config.apps.items() if a != app and p.database_name == target_db)
        whose = f" (it is the database of app {', '.join(owners)})" if owners else ""
        section = f"[apps.{app}] replace_allowed" if policy is not None else "replace_allowed"
        return (f"REPLACE over {target_db} refused{whose}: an in-place restore of a backup of "
                f"{app} replaces {app}'s own database ({own or 'none: the app is not in dr.toml'}) "
                f"only; name {target_db} in {section} in dr.toml to allow it, or restore into "
                "a new database")
    made = made_by_the_control_plane(target_db)
    if made is not None:
        return (f"database name {target_db} is reserved: it is {made}; choose another name "
                "for the new database")
    return None


def check_restore_target(config: DRConfig, app: str, target_db: str, mode: str) -> None:
    """restore_target_refusal as an exception: RestoreTargetRefused."""
    refusal = restore_target_refusal(config, app, target_db, mode)
    if refusal is not None:
        raise RestoreTargetRefused(refusal)


def server_address(url: str) -> str:
    """`host:port` of a server URL, as [restore] allowed_servers names servers."""
    info = ConnInfo.parse(url)
    return f"{info.host.lower()}:{info.port}"


def target_server_refusal(config: DRConfig, app: str, target_url: str | None) -> str | None:
    """Why a restore launched through Dagster may not write the server TARGET_URL names
    (None: no URL, the app's own server, or one [restore] allowed_servers lists). A run
    config is free text that anyone who reaches Dagster can write, and the run decrypts the
    backup: where it may send the data comes from dr.toml only. (`drctl restore
    --target-url` is not checked: its operator holds the master key already.)"""
    if not target_url:
        return None
    try:
        address = server_address(target_url)
    except DRError as exc:
        return f"target_url does not parse: {exc}"
    policy = config.apps.get(app)
    own = server_address(policy.database_url) if policy is not None else None
    if address == own or address in config.restore.allowed_servers:
        return None
    allowed = ", ".join(config.restore.allowed_servers) or "none"
    return (f"restore target server {address} refused: a restore of {app} writes its own "
            f"server ({own or 'none: the app is not in dr.toml'}) or one [restore] "
            f"allowed_servers lists in dr.toml (now: {allowed}); add {address} there to "
            "allow it")
