"""The run contract between the launchers (the API, `make up`) and the Dagster jobs: job, op
and tag names, run priorities, the backup partitions of a cadence, and each launch's run config."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from dr_assets.core.access.tickets import (
    DRILL,
    PITR_DRILL,
    RESTORE,
    RETENTION,
    TicketKeys,
    action_arguments,
    mint_ticket,
)
from dr_assets.core.policy import AppPolicy

# Where the jobs are.
LOCATION = "dr_assets"              # workspace.yaml's location_name
REPOSITORY = "__repository__"       # the repository Dagster makes of a Definitions object

RESTORE_JOB = "restore_job"
RETENTION_JOB = "retention_job"
CATALOG_SYNC_JOB = "catalog_sync_job"
COMPLIANCE_REPORT_JOB = "compliance_report_job"

RESTORE_OP = "restore_backup_op"
RETENTION_OP = "retention_op"
CATALOG_SYNC_OP = "catalog_sync_op"


# One backup job per cadence and one drill job for every app: a run names its app by its
# asset selection and its tags, so the jobs do not grow with the estate.
DRILL_JOB = "restore_drill_job"
BACKUP_SENSOR = "backup_windows_sensor"


def backup_job_name(every_hours: int) -> str:
    return f"backup_every_{every_hours}h_job"


def backup_asset_path(app: str) -> tuple[str, ...]:
    return (app, "backup")


def drill_asset_path(app: str) -> tuple[str, ...]:
    return (app, "restore_drill")


def base_backup_job_name(server: str) -> str:
    return f"{server}_base_backup_job"


def pitr_drill_job_name(server: str) -> str:
    return f"{server}_pitr_drill_job"


PITR_DRILL_OP = "pitr_drill_op"


def pitr_drill_op_name(server: str) -> str:
    return f"{server}_{PITR_DRILL_OP}"


# What a run does, as its `dr/kind` tag says.
KIND_BACKUP = "backup"
KIND_DRILL = "drill"
KIND_RESTORE = "restore"
KIND_RETENTION = "retention"
KIND_CATALOG_SYNC = "catalog_sync"
KIND_REPORT = "report"
KIND_BASE_BACKUP = "base_backup"

TAG_APP = "dr/app"
TAG_SERVER = "dr/server"
TAG_KIND = "dr/kind"
TAG_BACKUP_SLOT = "dr/backup"  # the run queue allows one run per value: one backup per app
TAG_DUMP = "dr/dump"  # on every run that reads a whole database: the run queue's global limit
TAG_REQUESTED_BY = "dr/requested_by"
TAG_TICKET = "dr/ticket"  # the launch ticket of a run that writes a database or deletes a backup
TAG_PRIORITY = "dagster/priority"  # the queued run coordinator starts higher values first
TAG_PARTITION = "dagster/partition"

# When runs queue (max_concurrent_runs), a restore asked for in an incident goes first, then
# backups (the RPO), then drills, and upkeep last.
PRIORITIES = {KIND_RESTORE: 100, KIND_BACKUP: 10, KIND_BASE_BACKUP: 10, KIND_DRILL: -10, KIND_RETENTION: -20,
              KIND_CATALOG_SYNC: -20, KIND_REPORT: -30}


def kind_tags(kind: str) -> dict[str, str]:
    tags = {TAG_KIND: kind, TAG_PRIORITY: str(PRIORITIES.get(kind, 0))}
    if kind in (KIND_BACKUP, KIND_BASE_BACKUP):
        tags[TAG_DUMP] = "true"
    return tags


def run_tags(app: str, kind: str) -> dict[str, str]:
    tags = {TAG_APP: app, **kind_tags(kind)}
    if kind == KIND_BACKUP:
        tags[TAG_BACKUP_SLOT] = app
    return tags


def server_run_tags(server: str, kind: str) -> dict[str, str]:
    """A protected server's run: alerts name it `server:NAME` (as an app), and one base
    backup per server runs at a time (the backup slot)."""
    tags = {TAG_SERVER: server, TAG_APP: f"server:{server}", **kind_tags(kind)}
    if kind == KIND_BASE_BACKUP:
        tags[TAG_BACKUP_SLOT] = f"server:{server}"
    return tags


# -- Backup partitions: one window per backup at the app's cadence ---------------------------

PARTITIONS_START = "2026-11-01-00:00"
PARTITION_FMT = "%Y-%m-%d-%H:%M"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def cadence_cron(every_hours: int) -> str:
    if every_hours < 24:
        return "0 * * * *" if every_hours == 1 else f"0 */{every_hours} * * *"
    days = every_hours // 24
    return "0 0 * * *" if days == 1 else f"0 0 */{days} * *"


def _starts_daily(days: int, start: datetime, end: datetime) -> Iterator[datetime]:
    """Midnights on the cadence's days of the month, from the one at or before start."""
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while (day.day - 1) % days:
        day -= DAY
    while day < end + timedelta(days=days):
        yield day
        day += DAY
        while (day.day - 1) % days:
            day += DAY


def _starts_hourly(every_hours: int, start: datetime, end: datetime) -> Iterator[datetime]:
    at = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while at < end + timedelta(hours=every_hours):
        yield at
        at += every_hours * HOUR


def scheduled_windows(every_hours: int, start: datetime, end: datetime
                      ) -> list[tuple[datetime, datetime]]:
    """Every window of the cadence that starts in [start, end), as (start, exclusive end), as
    the cron of `cadence_cron` cuts them: every `every_hours` from midnight UTC, or for
    whole-day cadences on days 1, 1+n, 1+2n ... of each month (`*/n` restarts every month)."""
    if every_hours < 24:
        starts = list(_starts_hourly(every_hours, start, end))
    else:
        starts = list(_starts_daily(every_hours // 24, start, end))
    return [(a, b) for a, b in pairwise(starts) if start <= a < end]


FIRST_WINDOW = datetime.strptime(PARTITIONS_START, PARTITION_FMT).replace(tzinfo=UTC)


def backup_window(policy: AppPolicy, moment: datetime) -> tuple[datetime, datetime] | None:
    """(start, exclusive end) of the newest backup window complete at MOMENT (an aware
    datetime); None before the first window has ended."""
    at = moment.astimezone(UTC)
    # No window is longer than the cadence, so the newest complete one starts within two.
    look_back = 2 * timedelta(hours=policy.every_hours)
    complete = [(a, b) for a, b in scheduled_windows(policy.every_hours, at - look_back, at)
                if b <= at]
    if not complete or complete[-1][0] < FIRST_WINDOW:
        return None
    return complete[-1]


def backup_partition(policy: AppPolicy, moment: datetime) -> str | None:
    """The key of the newest backup window complete at MOMENT (an aware datetime), as the
    job's partitions would give it then; None before the first window has ended."""
    window = backup_window(policy, moment)
    return window[0].strftime(PARTITION_FMT) if window is not None else None


# -- What a launcher sends ------------------------------------------------------------------

@dataclass(frozen=True)
class LaunchRequest:
    """One run to launch: the job, its run config and the run's tags."""

    job: str
    run_config: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    # The assets the run materializes (key paths), when the job holds more than this run's.
    asset_selection: tuple[tuple[str, ...], ...] = ()

    def requested_by(self, subject: str) -> LaunchRequest:
        return replace(self, tags={**self.tags, TAG_REQUESTED_BY: subject})

    def op_config(self, op: str) -> dict[str, Any]:
        return dict(self.run_config.get("ops", {}).get(op, {}).get("config", {}))

    def ticket_action(self) -> tuple[str, dict[str, Any]] | None:
        """The action and arguments a launch ticket must bind for this run (as its op
        checks them), or None for runs that neither write a database nor delete a backup."""
        if self.job == RESTORE_JOB:
            return RESTORE, action_arguments(self.op_config(RESTORE_OP))
        if self.job == RETENTION_JOB:
            return RETENTION, action_arguments(self.op_config(RETENTION_OP))
        if self.job == DRILL_JOB:
            return DRILL, {"apps": sorted(p[0] for p in self.asset_selection)}
        server = self.tags.get(TAG_SERVER)
        if server and self.job == pitr_drill_job_name(server):
            return PITR_DRILL, {"server": server,
                                **action_arguments(self.op_config(pitr_drill_op_name(server)))}
        return None

    def ticketed(self, keys: TicketKeys, *, who: str, role: str, now: datetime
                 ) -> LaunchRequest:
        """This launch with who asked and, when its run writes a database or deletes a
        backup, a launch ticket saying so (signed with KEYS, good from NOW)."""
        request = self.requested_by(who)
        bound = self.ticket_action()
        if bound is None:
            return request
        ticket = mint_ticket(keys, who=who, role=role, action=bound[0], args=bound[1], now=now)
        return replace(request, tags={**request.tags, TAG_TICKET: ticket})


def _op_config(op: str, **config: object) -> dict[str, Any]:
    return {"ops": {op: {"config": config}}}


def backup_launch(policy: AppPolicy, partition: str | None) -> LaunchRequest:
    """A backup of the app for the window PARTITION (from `backup_partition`), in its
    cadence's job."""
    tags = run_tags(policy.name, KIND_BACKUP)
    if partition:
        tags[TAG_PARTITION] = partition
    return LaunchRequest(backup_job_name(policy.every_hours), tags=tags,
                         asset_selection=(backup_asset_path(policy.name),))


def base_backup_launch(server: str, partition: str | None) -> LaunchRequest:
    """A base backup of SERVER for the window PARTITION of its cadence."""
    tags = server_run_tags(server, KIND_BASE_BACKUP)
    if partition:
        tags[TAG_PARTITION] = partition
    return LaunchRequest(base_backup_job_name(server), tags=tags)


def drill_launch(app: str) -> LaunchRequest:
    return LaunchRequest(DRILL_JOB, tags=run_tags(app, KIND_DRILL),
                         asset_selection=(drill_asset_path(app),))


def restore_launch(app: str, backup_id: str, target_database: str, mode: str, *,
                   force_disconnect: bool, requested_by: str, tables: Sequence[str] = (),
                   schemas: Sequence[str] = (), accept_loss: bool = False) -> LaunchRequest:
    """A restore of BACKUP_ID (a backup of APP) into TARGET_DATABASE, new or in place (REPLACE);
    with TABLES or SCHEMAS (checked names, as Selection.to_dict gives them) only those.
    Without ACCEPT_LOSS a restore whose plan would lose something refuses, with the plan's
    words, and changes nothing."""
    config: dict[str, object] = {"backup_id": backup_id, "target_database": target_database,
                                 "mode": mode, "force_disconnect": force_disconnect,
                                 "requested_by": requested_by}
    config.update({k: list(v) for k, v in (("tables", tables), ("schemas", schemas)) if v})
    return _restore_request(app, config, accept_loss)


def point_in_time_restore_launch(app: str, target_database: str, *, requested_by: str,
                                 to_time: str | None = None, to_lsn: str | None = None,
                                 to_latest: bool = False,
                                 accept_loss: bool = False) -> LaunchRequest:
    """A restore of APP's database as of a moment (one of TO_TIME, ISO 8601 with an offset,
    TO_LSN, or TO_LATEST: the newest WAL) into the new database TARGET_DATABASE, through the
    same job as a backup's restore."""
    config: dict[str, object] = {"app": app, "target_database": target_database,
                                 "mode": "NEW_DATABASE", "requested_by": requested_by}
    config.update({k: v for k, v in (("to_time", to_time), ("to_lsn", to_lsn),
                                     ("to_latest", to_latest)) if v})
    return _restore_request(app, config, accept_loss)


def _restore_request(app: str, config: dict[str, object], accept_loss: bool) -> LaunchRequest:
    if accept_loss:
        config["accept_loss"] = True
    return LaunchRequest(RESTORE_JOB, _op_config(RESTORE_OP, **config),
                         run_tags(app, KIND_RESTORE))


def retention_launch(app: str = "") -> LaunchRequest:
    """Retention applied to APP, or with no app to every app and server (the daily
    schedule); a dry run is answered without a run."""
    return LaunchRequest(RETENTION_JOB, _op_config(RETENTION_OP, app=app, dry_run=False),
                         run_tags(app, KIND_RETENTION) if app else kind_tags(KIND_RETENTION))


def pitr_drill_launch(server: str) -> LaunchRequest:
    """A point-in-time drill of SERVER at a random restore point in its window."""
    return LaunchRequest(pitr_drill_job_name(server), tags=server_run_tags(server, KIND_DRILL))
