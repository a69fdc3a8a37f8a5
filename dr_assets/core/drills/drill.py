"""Restore drills: prove the newest verified backup restores within the RTO and passes the
app's validation checks.

An isolated drill (the default) restores into a throwaway PostgreSQL server of the backup's
major version that holds nothing but what the backup brings, as after losing the whole
server; a same_server drill into a scratch database beside the app's own. Nothing is left
behind, on success and on failure alike: the scratch database is dropped, the throwaway
server stopped and its directory removed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dr_assets.core.catalog import Catalog
from dr_assets.core.copies.dead_runs import settle_dead_runs
from dr_assets.core.copies.locate import find_manifest
from dr_assets.core.errors import BackupNotFound, ConfigError, DRError, ToolError
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.pg.binaries import major_of
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import database_exists, drop_database
from dr_assets.core.pg.instance import server_bindir, throwaway_instance
from dr_assets.core.pg.sessions import server_version
from dr_assets.core.policy import AppPolicy, DrillSettings, DrillTarget
from dr_assets.core.restore.plan import RestoreOptions
from dr_assets.core.restore.restore import restore_backup
from dr_assets.core.restore.targets import DRILL_SCRATCH_PREFIX
from dr_assets.core.stores.base import Store
from dr_assets.core.validation.checks import CheckOutcome, refuse_failed, run_checks


@dataclass(frozen=True)
class DrillResult:
    app: str
    backup_id: str | None
    scratch_database: str
    passed: bool
    restore_seconds: float | None
    rto_seconds: float
    tables: int | None
    rows: int | None
    scratch_dropped: bool
    error: str | None
    drill_id: int
    target: str  # DrillTarget
    instance_start_seconds: float | None = None  # isolated: not part of restore_seconds
    server_version: str | None = None  # isolated: the throwaway server's
    checks: tuple[CheckOutcome, ...] = ()
    accepted_losses: tuple[str, ...] = ()  # what the restore could not bring back faithfully

    @property
    def rto_met(self) -> bool:
        return self.passed and self.restore_seconds is not None and (
            self.restore_seconds <= self.rto_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rto_met": self.rto_met,
                "checks": [c.to_dict() for c in self.checks]}


@dataclass(frozen=True)
class DrillServer:
    """The server a drill restores into."""

    target: str  # DrillTarget
    conninfo: ConnInfo
    instance_root: Path | None = None  # isolated: the throwaway server's directory
    start_seconds: float | None = None  # isolated: its initdb and start-up
    version: str | None = None  # isolated: what it reports


def scratch_name(app: str, at: datetime) -> str:
    return f"{DRILL_SCRATCH_PREFIX}{app}_{at:%Y%m%d%H%M%S}_{secrets.token_hex(2)}"[:63]


def run_drill(policy: AppPolicy, *, stores: list[Store], keyring: Keyring, catalog: Catalog,
              settings: DrillSettings | None = None, run_id: str | None = None,
              now: datetime | None = None) -> DrillResult:
    """Restore the newest verified backup into a scratch database on the server the app's
    `drill_target` names, validate it, time the restore against the RTO and run the app's
    validation checks on it; a failed check fails the drill."""
    # Earlier runs of the app killed mid-way are settled first (their rows failed, their
    # throwaway servers removed), then this drill's row is running while this process is.
    settle_dead_runs(catalog, stores, app=policy.name,
                     instances_dir=(settings or DrillSettings()).instances_dir)
    with catalog.alive() as alive_key:
        return _run_drill(policy, stores=stores, keyring=keyring, catalog=catalog,
                          settings=settings, run_id=run_id, now=now, alive_key=alive_key)


def _run_drill(policy: AppPolicy, *, stores: list[Store], keyring: Keyring, catalog: Catalog,
               settings: DrillSettings | None, run_id: str | None, now: datetime | None,
               alive_key: int) -> DrillResult:
    settings = settings or DrillSettings()
    scratch = scratch_name(policy.name, now or datetime.now(UTC))
    rto_seconds = float(policy.rto_hours * 3600)
    newest = catalog.newest_verified(policy.name)
    drill_id = catalog.begin_drill(policy.name, newest.backup_id if newest else None, scratch,
                                   rto_seconds, run_id, policy.drill_target,
                                   alive_key=alive_key)
    seconds = tables = rows = None
    where: DrillServer | None = None
    error: str | None = None
    checks: list[CheckOutcome] = []
    losses: tuple[str, ...] = ()
    t0 = time.monotonic()
    try:
        if newest is None:
            raise BackupNotFound(f"{policy.name} has no verified backup to drill: "
                                 "take a backup and let checksum_verified pass first")
        manifest = find_manifest(newest.backup_id, stores, catalog)
        with drill_server(policy, manifest, settings) as where:
            server = where.conninfo
            t0 = time.monotonic()  # the restore is timed without the server's start-up
            # A drill's server is scratch: it proceeds through what a plan calls a loss (a
            # password the backup's role could not read, say) and reports each one.
            result = restore_backup(manifest, target_db=scratch, target=server, stores=stores,
                                    keyring=keyring, catalog=catalog, requested_by="drill",
                                    run_id=run_id, mode="DRILL",
                                    options=RestoreOptions(accept_loss=True))
            seconds, tables, rows = result.seconds, result.tables, result.rows
            losses = tuple(result.accepted_losses)
            checks = run_checks(policy.validation, manifest, server.with_db(scratch))
            refuse_failed(checks)
    except DRError as exc:
        error = str(exc)
        seconds = time.monotonic() - t0
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        left = _left_behind(policy, where, scratch)
        if error is None and left is not None:
            error = left
        catalog.finish_drill(
            drill_id, passed=error is None, restore_seconds=seconds,
            rto_met=error is None and seconds is not None and seconds <= rto_seconds,
            rows_validated=error is None, tables=tables, rows=rows,
            scratch_dropped=left is None, error=error,
            instance_start_seconds=where.start_seconds if where else None,
            server_version=where.version if where else None,
        )
    return DrillResult(
        app=policy.name, backup_id=newest.backup_id if newest else None,
        scratch_database=scratch, passed=error is None, restore_seconds=seconds,
        rto_seconds=rto_seconds, tables=tables, rows=rows, scratch_dropped=left is None,
        error=error, drill_id=drill_id, target=policy.drill_target,
        instance_start_seconds=where.start_seconds if where else None,
        server_version=where.version if where else None, checks=tuple(checks),
        accepted_losses=losses,
    )


@contextmanager
def drill_server(policy: AppPolicy, manifest: BackupManifest,
                 settings: DrillSettings) -> Iterator[DrillServer]:
    """The app's own server, or a throwaway one of the backup's major version that is
    stopped and removed when the block ends, however it ends."""
    if policy.drill_target == DrillTarget.SAME_SERVER:
        yield DrillServer(DrillTarget.SAME_SERVER, ConnInfo.parse(policy.database_url))
        return
    major = source_major(manifest)
    bindir = settings.bindir(major)
    try:
        server_bindir(major, bindir)
    except ToolError as exc:
        # No fallback to the app's server: that would prove less than the policy asks.
        raise ToolError(f"isolated drill of {policy.name}: {exc} ([drills] server_bindir in "
                        f"dr.toml); backup {manifest.backup_id} was taken from PostgreSQL "
                        f"{manifest.server_version}") from None
    parent = settings.instances_dir
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"[drills] instances_dir {parent} is not a directory: create it "
                          "(every user must be able to traverse it) or leave it out to use "
                          "the system temporary directory")
    t0 = time.monotonic()
    with throwaway_instance(major, parent=parent, bindir=bindir) as instance:
        started = time.monotonic() - t0
        yield DrillServer(DrillTarget.ISOLATED, instance.conninfo, instance.root, started,
                          server_version(instance.conninfo))


def source_major(manifest: BackupManifest) -> int:
    """The major version of the server the backup was taken from."""
    major = major_of(manifest.server_version)
    if not major:
        raise ToolError(f"backup {manifest.backup_id} names no server major version "
                        f"({manifest.server_version!r}): drill it with drill_target = "
                        '"same_server"')
    return major


def _left_behind(policy: AppPolicy, where: DrillServer | None, scratch: str) -> str | None:
    """What the drill could not clean up, if anything."""
    if policy.drill_target == DrillTarget.SAME_SERVER:
        server = ConnInfo.parse(policy.database_url)
        return None if _drop_scratch(server, scratch) else (
            f"scratch database {scratch} could not be dropped")
    # The scratch database lived in the throwaway server's directory, removed with it.
    root = where.instance_root if where else None
    if root is not None and root.exists():
        return f"throwaway server {root} (scratch database {scratch}) could not be removed"
    return None


def _drop_scratch(server: ConnInfo, scratch: str) -> bool:
    try:
        drop_database(server, scratch)
        return not database_exists(server, scratch)
    except DRError:
        return False
