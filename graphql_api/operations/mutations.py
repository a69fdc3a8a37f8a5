"""Mutations: thin wrappers over operations.actions, which check roles and audit; like every
synchronous root field they run in the worker pool (graphql_api.workers)."""

from __future__ import annotations

import strawberry

from graphql_api.context import Info
from graphql_api.operations import actions
from graphql_api.operations.types import (
    AcknowledgeAlertResult,
    ApplyRetentionResult,
    CreateBackupResult,
    DagsterUnavailable,
    NotAllowed,
    PointInTimeRestoreInput,
    PointInTimeRestoreResult,
    ReleaseBackupHoldResult,
    RestoreBackupResult,
    RestoreInput,
    RunResult,
    RunStatus,
    ScheduleDrillResult,
)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Launch a backup run of an app (operator).")
    def create_backup(self, info: Info, app: str) -> CreateBackupResult:
        return actions.create_backup(info.context, app)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Launch a restore drill of an app (operator).")
    def schedule_drill(self, info: Info, app: str) -> ScheduleDrillResult:
        return actions.schedule_drill(info.context, app)  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="Launch a restore into a new database, or in place with REPLACE (admin).")
    def restore_backup(self, info: Info, input: RestoreInput) -> RestoreBackupResult:
        return actions.restore(info.context, input.backup_id, input.target_database,  # type: ignore[no-any-return]
                               input.mode.value, input.force_disconnect, input.tables or [],
                               input.schemas or [])

    @strawberry.mutation(
        description="Launch a restore of an app's database as of a moment (a time, an LSN or "
                    "the newest WAL) into a new database, through its server's WAL; checked "
                    "against the recoverable window first (admin).")
    def restore_to_point_in_time(self, info: Info, input: PointInTimeRestoreInput
                                 ) -> PointInTimeRestoreResult:
        return actions.restore_to_point_in_time(  # type: ignore[no-any-return]
            info.context, input.app, input.target_database,
            input.to_time.isoformat() if input.to_time else None, input.to_lsn,
            input.to_latest)

    @strawberry.mutation(description="Preview (dryRun, default) or launch retention (admin).")
    def apply_retention(self, info: Info, app: str, dry_run: bool = True) -> ApplyRetentionResult:
        return actions.apply_retention(info.context, app, dry_run)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Acknowledge an alert (admin).")
    def acknowledge_alert(self, info: Info, id: int) -> AcknowledgeAlertResult:
        return actions.acknowledge_alert(info.context, id)  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="Release a backup the contents check held, so retention may delete it "
                    "again; the reason is recorded. The app's last release resolves its "
                    "backup_anomaly alert (admin).")
    def release_backup_hold(self, info: Info, backup_id: str, reason: str
                            ) -> ReleaseBackupHoldResult:
        return actions.release_backup_hold(info.context, backup_id, reason)  # type: ignore[no-any-return]


def run_status(info: Info, run_id: str) -> RunResult:
    ctx = info.context
    if not ctx.principal.allows("viewer"):
        return NotAllowed(message="run needs the viewer role")
    try:
        return RunStatus(run_id=run_id, status=ctx.state.launcher.run_status(run_id))
    except Exception as exc:
        return DagsterUnavailable(message=str(exc))
