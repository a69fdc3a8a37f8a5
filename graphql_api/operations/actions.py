"""The admin actions behind the mutations and the REST POSTs: check, launch, audit.

Every call writes one audit row, whether it was allowed, refused or failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from dr_assets.core.anomalies.check import release_backup
from dr_assets.core.errors import BackupNotFound as NoSuchBackup
from dr_assets.core.errors import HoldError, InvalidName, MasterKeyError
from dr_assets.core.names import check_app_name
from dr_assets.core.restore.requests import RestoreRefusal, check_restore_request
from dr_assets.core.retention.apply import build_plan
from dr_assets.core.runs import (
    LaunchRequest,
    backup_launch,
    backup_partition,
    drill_launch,
    point_in_time_restore_launch,
    restore_launch,
    retention_launch,
)
from dr_assets.core.wal.restore_requests import check_point_in_time_request
from dr_assets.launcher import DagsterUnavailableError
from graphql_api.context import Context
from graphql_api.operations.types import (
    AlertAcknowledged,
    AlertNotFound,
    BackupHoldReleased,
    BackupNotFound,
    BackupNotRestorable,
    DagsterUnavailable,
    InvalidInput,
    NotAllowed,
    RetentionDecision,
    RetentionPreview,
    RunLaunched,
    UnknownApp,
)

Result = Any
REFUSALS = {"invalid_input": InvalidInput, "backup_not_found": BackupNotFound,
            "backup_not_restorable": BackupNotRestorable}


def _audited(ctx: Context, action: str, args: dict[str, Any], result: Result) -> Result:
    outcome = type(result).__name__
    ctx.audit(action, args, outcome, getattr(result, "message", None))
    ctx.state.response_cache.mutated(outcome)
    return result


def _refused(ctx: Context, action: str, needed: str) -> NotAllowed | None:
    if ctx.principal.allows(needed):
        return None
    who = "anonymous callers" if ctx.principal.role == "public" else f"role {ctx.principal.role}"
    return NotAllowed(message=f"{action} needs the {needed} role; {who} may not")


def _unknown_app(ctx: Context, app: str) -> UnknownApp | None:
    try:
        check_app_name(app)
    except InvalidName as exc:
        return UnknownApp(message=str(exc))
    if app not in ctx.config.apps:
        return UnknownApp(message=f"unknown app {app!r}: known apps are "
                                  f"{', '.join(sorted(ctx.config.apps))}")
    return None


def _launch(ctx: Context, request: LaunchRequest, message: str
            ) -> RunLaunched | DagsterUnavailable:
    """Launch REQUEST as the caller: a run that writes a database or deletes a backup gets
    a launch ticket naming them, which its op checks (core/access/tickets.py)."""
    try:
        ticketed = request.ticketed(ctx.state.runtime.ticket_keys, who=ctx.principal.subject,
                                    role=ctx.principal.role, now=datetime.now(UTC))
    except MasterKeyError as exc:
        return DagsterUnavailable(message=f"no launch ticket can be minted: {exc}")
    try:
        run_id = ctx.state.launcher.launch(ticketed)
    except DagsterUnavailableError as exc:
        return DagsterUnavailable(message=str(exc))
    return RunLaunched(run_id=run_id, job=request.job, message=message)


def create_backup(ctx: Context, app: str) -> Result:
    args = {"app": app}
    result: Result = _refused(ctx, "createBackup", "operator") or _unknown_app(ctx, app)
    if result is None:
        policy = ctx.config.apps[app]
        result = _launch(ctx, backup_launch(policy, backup_partition(policy, ctx.now)),
                         f"backup of {app} launched")
    return _audited(ctx, "createBackup", args, result)


def schedule_drill(ctx: Context, app: str) -> Result:
    args = {"app": app}
    result: Result = _refused(ctx, "scheduleDrill", "operator") or _unknown_app(ctx, app)
    if result is None and ctx.catalog.newest_verified(app) is None:
        result = BackupNotFound(message=f"{app} has no verified backup to drill: take one first")
    if result is None:
        result = _launch(ctx, drill_launch(app), f"restore drill of {app} launched")
    return _audited(ctx, "scheduleDrill", args, result)


def restore(ctx: Context, backup_id: str, target_database: str, mode: str,
            force_disconnect: bool = False, tables: Sequence[str] = (),
            schemas: Sequence[str] = ()) -> Result:
    args: dict[str, Any] = {"backup_id": backup_id, "target_database": target_database,
                            "mode": mode, "force_disconnect": force_disconnect}
    args |= {k: list(v) for k, v in (("tables", tables), ("schemas", schemas)) if v}
    result: Result = _refused(ctx, "restoreBackup", "admin")
    if result is None:
        checked = check_restore_request(ctx.config, ctx.catalog, backup_id, target_database,
                                        mode, tables, schemas)
        if isinstance(checked, RestoreRefusal):
            result = REFUSALS[checked.kind](message=checked.message)
        else:
            chosen = checked.selection.to_dict() if checked.selection else {}
            request = restore_launch(checked.app, backup_id, target_database, mode,
                                     force_disconnect=force_disconnect,
                                     requested_by=ctx.principal.subject,
                                     tables=chosen.get("tables", ()),
                                     schemas=chosen.get("schemas", ()))
            result = _launch(ctx, request,
                             f"restore of {backup_id} into {target_database} launched")
    return _audited(ctx, "restoreBackup", args, result)


def restore_to_point_in_time(ctx: Context, app: str, target_database: str,
                             to_time: str | None, to_lsn: str | None,
                             to_latest: bool | None) -> Result:
    """Blocking (reads the stores' listings): call it from a worker thread in async code."""
    args: dict[str, Any] = {"app": app, "target_database": target_database}
    args |= {k: v for k, v in (("to_time", to_time), ("to_lsn", to_lsn),
                               ("to_latest", to_latest)) if v is not None}
    action = "restoreToPointInTime"
    result: Result = _refused(ctx, action, "admin") or _unknown_app(ctx, app)
    if result is None:
        rt = ctx.state.runtime
        checked = check_point_in_time_request(rt.config, rt.stores, rt.keyring, app,
                                              target_database, to_time, to_lsn,
                                              bool(to_latest))
        if isinstance(checked, RestoreRefusal):
            result = REFUSALS[checked.kind](message=checked.message)
        else:
            request = point_in_time_restore_launch(
                app, target_database, requested_by=ctx.principal.subject, to_time=to_time,
                to_lsn=to_lsn, to_latest=bool(to_latest))
            result = _launch(ctx, request, f"restore of {app} as of "
                                           f"{checked.target.describe()} into "
                                           f"{target_database} launched (from base backup "
                                           f"{checked.base_backup_id})")
    return _audited(ctx, action, args, result)


def apply_retention(ctx: Context, app: str, dry_run: bool) -> Result:
    args = {"app": app, "dry_run": dry_run}
    result: Result = _refused(ctx, "applyRetention", "admin") or _unknown_app(ctx, app)
    if result is None and dry_run:
        plan = build_plan(ctx.config.apps[app], ctx.catalog, ctx.now, ctx.state.runtime.stores)
        result = RetentionPreview(
            app=app, bytes_freed=plan.bytes_freed,
            would_delete=[d.backup_id for d in plan.to_delete],
            decisions=[RetentionDecision(backup_id=d.backup_id, delete=d.delete, reason=d.reason,
                                         stored_bytes=d.stored_bytes) for d in plan.decisions],
        )
    elif result is None:
        result = _launch(ctx, retention_launch(app), f"retention of {app} launched")
    return _audited(ctx, "applyRetention", args, result)


def acknowledge_alert(ctx: Context, alert_id: int) -> Result:
    args = {"alert_id": alert_id}
    result: Result = _refused(ctx, "acknowledgeAlert", "admin")
    if result is None:
        row = ctx.catalog.acknowledge_alert(alert_id, ctx.principal.subject)
        result = (AlertAcknowledged.from_row(row) if row else
                  AlertNotFound(message=f"alert {alert_id} does not exist"))
    return _audited(ctx, "acknowledgeAlert", args, result)


def release_backup_hold(ctx: Context, backup_id: str, reason: str) -> Result:
    args = {"backup_id": backup_id, "reason": reason}
    result: Result = _refused(ctx, "releaseBackupHold", "admin")
    if result is None:
        try:
            done = release_backup(ctx.catalog, backup_id, ctx.principal.subject, reason)
        except NoSuchBackup as exc:
            result = BackupNotFound(message=str(exc))
        except (HoldError, InvalidName) as exc:
            result = InvalidInput(message=str(exc))
        else:
            result = BackupHoldReleased(
                backup_id=backup_id, app=done.release.hold.app,
                alert_resolved=done.release.resolved_alert is not None, message=done.message)
    return _audited(ctx, "releaseBackupHold", args, result)
