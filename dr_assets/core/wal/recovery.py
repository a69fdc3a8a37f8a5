"""Recovery of a protected server to a moment: the target (a time, an LSN, a restore point or
the newest WAL) checked against the recoverable window the stores hold, the newest base
backup whose range holds it extracted into a fresh data directory, and PostgreSQL's own
recovery replaying WAL through the fetch service's restore_command until it reaches the
target and promotes.

The recovery settings are given as `-c` options at start, so none of them stays in the
data directory (postgresql.auto.conf is not written); the server's own pg_hba.conf is left
as it is and the recovery runs with one of the instance directory's that trusts local
connections only.

Recovery to a time whose WAL ends before any commit after it: PostgreSQL 13+ stops with
"recovery ended before configured recovery target was reached". When the target is inside
the window that means every commit the WAL holds is at or before the target, so the server
is started again without a target and recovers to the end of WAL (no new extraction). The
same for an LSN past the end of the partial segment's data; a restore point not met is an
error (its record is not in the WAL replayed).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2

from dr_assets.core.errors import DRError, ToolError, WalError
from dr_assets.core.format.base_backup import BaseBackupManifest
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.manifest import iso
from dr_assets.core.pg.command import run
from dr_assets.core.pg.instance import ThrowawayInstance, as_user, throwaway_instance
from dr_assets.core.policy import DRConfig
from dr_assets.core.stores.base import Store
from dr_assets.core.wal.archive import WalArchive
from dr_assets.core.wal.fetch_service import FetchReport, WalFetchService
from dr_assets.core.wal.planning import RecoveryPlan, plan_recovery, read_window
from dr_assets.core.wal.targets import RecoveryTarget, TargetKind
from dr_assets.core.wal.untar import Unpacked, untar_base_backup

NOT_REACHED = "recovery ended before configured recovery target was reached"
HBA_NAME = "recovery_hba.conf"
HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
PROMOTE_TIMEOUT_SECONDS = 3600.0
POLL_SECONDS = 0.1


@dataclass
class Replayed:
    """What a replay did on a data directory."""

    seconds: float
    timeline: int
    last_replayed: datetime | None  # the newest commit replayed
    to_end_of_wal: bool  # the target lay past the last commit: recovered to the end of WAL
    fetch: FetchReport = field(default_factory=FetchReport)


def _recovery_settings(instance: ThrowawayInstance, service: WalFetchService,
                       target: RecoveryTarget, timeline: int | None) -> dict[str, str]:
    settings = {
        "restore_command": service.restore_command,
        "recovery_target_timeline": str(timeline) if timeline else "latest",
        "recovery_target_action": "promote",
        "recovery_target_inclusive": "true",
        "archive_mode": "off",
        "hba_file": str(instance.root / HBA_NAME),
        "hot_standby": "on",
        **target.settings(),
    }
    return settings


def prepare_data_dir(instance: ThrowawayInstance) -> None:
    """After extraction: the server's user owns it, mode 0700, recovery.signal, a config
    file (a server whose configuration lives elsewhere has none in its data directory),
    and the instance's own trust-local hba file beside it."""
    data = instance.data_dir
    if not (data / "postgresql.conf").exists():
        (data / "postgresql.conf").write_text("# written by the DR control plane's recovery\n")
    (data / "recovery.signal").write_text("")
    for stale in ("postmaster.pid", "postmaster.opts", "standby.signal"):
        (data / stale).unlink(missing_ok=True)
    (instance.root / HBA_NAME).write_text(HBA)
    if instance.os_user:
        run(["chown", "-R", f"{instance.os_user}:{instance.os_user}", str(data.resolve())])
        shutil.chown(instance.root / HBA_NAME, instance.os_user, instance.os_user)
    data.resolve().chmod(0o700)
    (data / "pg_wal").mkdir(exist_ok=True)


def replay(instance: ThrowawayInstance, archive: WalArchive, needed: list[str],
           target: RecoveryTarget, timeline: int | None = None) -> Replayed:
    """Run PostgreSQL's recovery on the instance's prepared data directory until it has
    promoted; the server is left running. `timeline`: the one the chain of `needed` ends
    on (recovery follows exactly that path; None: the newest PostgreSQL finds)."""
    t0 = time.monotonic()
    with WalFetchService(archive, instance.root, needed, os_user=instance.os_user) as service:
        instance.settings = _recovery_settings(instance, service, target, timeline)
        to_end = False
        if not _run_until_promoted(instance, service):
            if target.kind not in (TargetKind.TIME, TargetKind.LSN):
                raise _stopped(instance, service, target)
            # Every commit in the WAL is at or before the target: recover to its end.
            to_end = True
            instance.settings = {k: v for k, v in instance.settings.items()
                                 if not k.startswith("recovery_target_")
                                 or k in ("recovery_target_timeline",)}
            with _log_rotated(instance):
                if not _run_until_promoted(instance, service):
                    raise _stopped(instance, service, target)
        timeline, last = _promoted_facts(instance)
        return Replayed(seconds=time.monotonic() - t0, timeline=timeline, last_replayed=last,
                        to_end_of_wal=to_end, fetch=service.report)


@contextlib.contextmanager
def _log_rotated(instance: ThrowawayInstance) -> Iterator[None]:
    log = instance.root / "server.log"
    if log.exists():
        log.rename(instance.root / "server.first-run.log")
    yield


def _run_until_promoted(instance: ThrowawayInstance, service: WalFetchService) -> bool:
    """True once promoted; False when PostgreSQL stopped because WAL ended before the
    target. Anything else raises."""
    try:
        instance.start()
    except ToolError:
        if NOT_REACHED in instance.server_log_tail():
            return False
        raise _failed_start(instance, service) from None
    deadline = time.monotonic() + PROMOTE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not _postmaster_alive(instance):
            if NOT_REACHED in instance.server_log_tail():
                return False
            raise _failed_start(instance, service)
        with contextlib.suppress(psycopg2.Error):
            conn = psycopg2.connect(**instance.conninfo.connect_kwargs())
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_is_in_recovery()")
                    row = cur.fetchone()
                if row is not None and not row[0]:
                    return True
            finally:
                conn.close()
        time.sleep(POLL_SECONDS)
    raise WalError(f"recovery did not finish within {PROMOTE_TIMEOUT_SECONDS:.0f} s: "
                   f"{instance.server_log_tail()[-800:]}")


def _postmaster_alive(instance: ThrowawayInstance) -> bool:
    try:
        pid = int((instance.data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return False
    return Path(f"/proc/{pid}").exists()


def _failed_start(instance: ThrowawayInstance, service: WalFetchService) -> DRError:
    if service.report.failed:
        return _missing(instance, service)
    return WalError(f"recovery failed: the server stopped: {instance.server_log_tail()[-1200:]}")


def _stopped(instance: ThrowawayInstance, service: WalFetchService,
             target: RecoveryTarget) -> DRError:
    if service.report.failed:
        return _missing(instance, service)
    return WalError(f"recovery to {target.describe()} ended before reaching it: "
                    f"{instance.server_log_tail()[-800:]}")


def _missing(instance: ThrowawayInstance, service: WalFetchService) -> WalError:
    """The file no store holds a good copy of, and the last moment before it."""
    name, why = next(iter(service.report.failed.items()))
    reachable = _last_reachable(service, name)
    return WalError(
        f"recovery stopped at WAL segment {name}: no store holds a good copy of it ({why}); "
        f"the last reachable moment is about {reachable}: recover with --to-time up to it")


def _last_reachable(service: WalFetchService, name: str) -> str:
    """When the file before `name` on the chain was received (its commits are older)."""
    order = service.order
    before = order[:order.index(name)] if name in order else list(service.report.served)
    for previous in reversed(before):
        for store in service.archive.stores:
            header = service.archive.header(store, previous)
            if header is None:
                header = service.archive.header(store, previous + ".partial")
            if header is not None:
                return header.received_at
    return "the base backup's end (no WAL after it is readable)"


def _promoted_facts(instance: ThrowawayInstance) -> tuple[int, datetime | None]:
    conn = psycopg2.connect(**instance.conninfo.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")
            row = cur.fetchone()
            cur.execute("SELECT pg_last_xact_replay_timestamp()")
            last = cur.fetchone()
    finally:
        conn.close()
    timeline = int(row[0], 16) if row else 0
    return timeline, (last[0] if last else None)


def stop_cleanly(instance: ThrowawayInstance) -> None:
    """A fast shutdown: the data directory is left consistent, ready to start."""
    run(as_user(instance.os_user, [str(instance.bindir / "pg_ctl"), "-D",
                                   str(instance.data_dir), "-m", "fast", "-w", "-t", "120",
                                   "stop"]), cwd=instance.root)


@dataclass
class RecoveredServer:
    """A server recovered to a target: running in a throwaway instance (inside
    `recovered_server`'s block) or stopped in an operator's data directory."""

    server: str
    target: RecoveryTarget
    base_backup_id: str
    base_store: str  # the store whose copy of the base backup was unpacked
    data_dir: Path
    base_fetch_seconds: float
    replay_seconds: float
    timeline: int
    last_replayed: datetime | None
    to_end_of_wal: bool
    fetch: FetchReport
    base_bad_copies: dict[str, str] = field(default_factory=dict)
    instance: ThrowawayInstance | None = None

    @property
    def bad_copies(self) -> dict[str, dict[str, str]]:
        """Every bad copy met: WAL files' and the base backup's, by file and store."""
        out = {k: dict(v) for k, v in self.fetch.bad_copies.items()}
        if self.base_bad_copies:
            out[f"base backup {self.base_backup_id}"] = dict(self.base_bad_copies)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "target": self.target.to_dict(),
                "base_backup_id": self.base_backup_id, "base_store": self.base_store,
                "data_dir": str(self.data_dir),
                "base_fetch_seconds": round(self.base_fetch_seconds, 3),
                "replay_seconds": round(self.replay_seconds, 3), "timeline": self.timeline,
                "last_replayed": iso(self.last_replayed) if self.last_replayed else None,
                "to_end_of_wal": self.to_end_of_wal, "wal": self.fetch.to_dict(),
                "bad_copies": self.bad_copies}


def _source_major(manifest: BaseBackupManifest) -> int:
    return int(manifest.server_version.split(".")[0].split()[0])


@contextlib.contextmanager
def recovered_server(config: DRConfig, server: str, target: RecoveryTarget, *,
                     keyring: Keyring, stores: list[Store], parent: Path | None = None,
                     link_data_dir: Path | None = None, plan: RecoveryPlan | None = None
                     ) -> Iterator[RecoveredServer]:
    """The server recovered to `target` in a throwaway instance, running (promoted) for the
    block, removed after it. With `link_data_dir` the data directory is that directory
    (the instance's `data` a link to it), which outlives the instance. `plan`: one made
    already (plan_recovery on read_window)."""
    config.server(server)
    if plan is None:
        plan = plan_recovery(read_window(server, stores, keyring), target)
    base = plan.base
    unpacked: list[Unpacked] = []
    t0 = time.monotonic()

    def extract(instance: ThrowawayInstance) -> None:
        dest = instance.data_dir
        if link_data_dir is not None:
            dest.symlink_to(link_data_dir)
        unpacked.append(untar_base_backup(base, stores, keyring, dest.resolve(),
                                          owner=instance.os_user))
        prepare_data_dir(instance)

    directory = parent if parent is not None else config.drills.instances_dir
    with throwaway_instance(_source_major(base), parent=directory, prepare=extract,
                            start=False) as instance:
        fetched_in = time.monotonic() - t0
        archive = WalArchive(server, stores, keyring)
        done = replay(instance, archive, plan.needed, target, plan.timeline)
        yield RecoveredServer(
            server=server, target=target, base_backup_id=base.backup_id,
            base_store=unpacked[0].store, data_dir=instance.data_dir.resolve(),
            base_fetch_seconds=fetched_in, replay_seconds=done.seconds,
            timeline=done.timeline, last_replayed=done.last_replayed,
            to_end_of_wal=done.to_end_of_wal, fetch=done.fetch,
            base_bad_copies=dict(unpacked[0].bad_copies), instance=instance)


def recover_server(config: DRConfig, server: str, target: RecoveryTarget, *,
                   keyring: Keyring, stores: list[Store], data_dir: Path | None = None,
                   parent: Path | None = None) -> RecoveredServer:
    """Recover `server` to `target`. With `data_dir` (missing or empty; refused otherwise)
    the recovered, promoted and cleanly stopped data directory is left there, owned by the
    server's user; on failure it is left as it was found. Without, the recovery runs in a
    throwaway instance that is removed (a proof it can be done, timed)."""
    if data_dir is None:
        with recovered_server(config, server, target, keyring=keyring, stores=stores,
                              parent=parent) as recovered:
            recovered.instance = None
            return recovered
    dest = Path(data_dir).absolute()
    existed = dest.exists()
    if existed and (not dest.is_dir() or any(dest.iterdir())):
        raise WalError(f"{dest} is not an empty directory: restore-server writes a whole data "
                       "directory and refuses to write into one that holds anything")
    if not dest.parent.is_dir():
        raise WalError(f"{dest.parent} does not exist: create it first")
    dest.mkdir(mode=0o700, exist_ok=True)
    try:
        with recovered_server(config, server, target, keyring=keyring, stores=stores,
                              parent=parent, link_data_dir=dest) as recovered:
            assert recovered.instance is not None
            stop_cleanly(recovered.instance)
            _forget_recovery_files(dest)
            recovered.instance = None
            recovered.data_dir = dest
            return recovered
    except BaseException:
        if existed:
            for entry in dest.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(dest, ignore_errors=True)
        raise


def _forget_recovery_files(data: Path) -> None:
    """What the recovery used and the operator's server must not see."""
    for name in ("recovery.signal", "postmaster.opts"):
        (data / name).unlink(missing_ok=True)
