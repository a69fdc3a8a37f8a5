"""drctl commands over the estate: apps, keys, drills, retention, health and alerts."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from dr_assets.cli.output import emit, human, table
from dr_assets.core.access.tokens import AuthError, load_jwt_secret, mint_token
from dr_assets.core.drills.drill import run_drill
from dr_assets.core.drills.pitr_drill import run_pitr_drill
from dr_assets.core.errors import ConfigError, DRError
from dr_assets.core.format.keys import generate_key_file
from dr_assets.core.health.estate import estate_status
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.policy import DrillTarget, drill_kind
from dr_assets.core.retention.apply import apply_retention
from dr_assets.core.retention.purge import purge_deleted_rows
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.statuses import CheckStatus
from dr_assets.core.validation.checks import CheckOutcome
from dr_assets.core.wal.retention import ServerRetentionOutcome, apply_server_retention


def cmd_key_generate(args: argparse.Namespace) -> int:
    key = generate_key_file(Path(args.path))
    emit(args, {"path": args.path, "key_id": key.key_id},
          lambda: f"wrote master key {key.key_id} to {args.path}: keep a copy somewhere safe, "
                  "backups cannot be restored without it")
    return 0


def cmd_apps(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    apps = [
        {"name": a.name, "database": ConnInfo.parse(a.database_url).safe_url,
         "rto_hours": a.rto_hours, "rpo_hours": a.rpo_hours, "every_hours": a.every_hours,
         "retention_days": a.retention_days, "critical": a.critical, "min_keep": a.min_keep}
        for a in rt.config.apps.values()
    ]

    def text() -> str:
        return "\n".join(table(
            [("app", "24"), ("RTO", ">5"), ("RPO", ">5"), ("every", ">6"), ("keep", ">6"),
             ("critical", "")],
            ([a["name"], f"{a['rto_hours']}h", f"{a['rpo_hours']}h", f"{a['every_hours']}h",
              f"{a['retention_days']}d", "yes" if a["critical"] else "no"] for a in apps)))

    emit(args, apps, text)
    return 0


def cmd_key_rotate(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    enc = rt.config.encryption
    old = rt.keyring.current
    if enc.key_file is None:
        raise DRError(f"the current key comes from ${enc.key_env}: previous keys must be files, "
                      "so first save it to a file (mode 600) and set key_file to that file")
    new = generate_key_file(Path(args.path))
    previous = [str(p) for p in enc.previous_key_files]
    current = str(enc.key_file)
    doc = {"new_key_id": new.key_id, "new_key_file": args.path, "old_key_id": old.key_id,
           "dr_toml": {"key_file": args.path, "previous_key_files": [current, *previous]}}
    emit(args, doc, lambda: "\n".join([
        f"wrote master key {new.key_id} to {args.path}. To rotate, edit [encryption] in "
        f"{rt.config.path}:",
        f'  key_file = "{args.path}"',
        f"  previous_key_files = {[current, *previous]!r}".replace("'", '"'),
        f"New backups then use {new.key_id}; backups made with {old.key_id} stay restorable "
        "while its file is listed. Keep copies of both keys somewhere safe.",
    ]))
    return 0


def checks_passed(checks: tuple[CheckOutcome, ...]) -> str:
    """", 2 of 3 validation checks passed (orders_recent skipped: why)", or nothing."""
    if not checks:
        return ""
    passed = sum(c.status == CheckStatus.PASSED for c in checks)
    skipped = [f"{c.name} skipped: {c.error}" for c in checks if c.status == CheckStatus.SKIPPED]
    return (f", {passed} of {len(checks)} validation checks passed"
            + (f" ({'; '.join(skipped)})" if skipped else ""))


def cmd_pitr_drill(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    policy = rt.config.app(args.app)
    if policy.server is None:
        raise ConfigError(f"app {args.app} has no server: a point-in-time drill needs "
                          "continuous protection (server = \"NAME\" in its [apps.] table)")
    result = run_pitr_drill(rt.config, policy.server, stores=rt.stores, keyring=rt.keyring,
                            catalog=rt.catalog, apps=[args.app], point=args.point)

    def text() -> str:
        head = f"point-in-time drill of {args.app} (server {result.server})"
        if not result.passed:
            return f"{head} FAILED: {result.error}"
        verdict = "within" if result.rto_met(args.app) else "OVER"
        return (f"{head}: recovered to {result.point} from base backup "
                f"{result.base_backup_id} in {result.recovery_seconds or 0:.1f} s, {verdict} "
                f"the RTO of {result.rto_seconds[args.app] / 3600:g} h; {result.tables} "
                f"tables, {result.rows} rows exactly as recorded; the instance removed")

    emit(args, result.to_dict(), text)
    return 0 if result.passed else 1


def cmd_drill(args: argparse.Namespace) -> int:
    if args.point_in_time:
        return cmd_pitr_drill(args)
    if args.point:
        raise ConfigError("--point needs --point-in-time")
    rt = DRRuntime.load(args.config)
    result = run_drill(rt.config.app(args.app), stores=rt.stores, keyring=rt.keyring,
                       catalog=rt.catalog, settings=rt.config.drills)

    def text() -> str:
        kind = drill_kind(result.target, result.server_version)
        if result.instance_start_seconds is not None:
            kind += f", started in {result.instance_start_seconds:.1f} s"
        if not result.passed:
            return f"drill of {result.app} ({kind}) FAILED: {result.error}"
        verdict = "within" if result.rto_met else "OVER"
        cleaned = (f"the server and scratch {result.scratch_database} removed"
                   if result.target == DrillTarget.ISOLATED else
                   f"scratch {result.scratch_database} dropped")
        return (f"drill of {result.app} ({kind}): restored {result.backup_id} in "
                f"{result.restore_seconds or 0:.1f} s, {verdict} the RTO of "
                f"{result.rto_seconds / 3600:g} h; {result.tables} tables, {result.rows} rows "
                f"validated{checks_passed(result.checks)}; {cleaned}"
                + "".join(f"\n  accepted loss: {loss}" for loss in result.accepted_losses))

    emit(args, result.to_dict(), text)
    return 0 if result.passed else 1


def cmd_retention(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    apps = ([] if args.server else [rt.config.app(args.app)] if args.app
            else list(rt.config.apps.values()))
    servers = ([rt.config.server(args.server)] if args.server else [] if args.app
               else list(rt.config.servers.values()))
    outcomes = [apply_retention(p, stores=rt.stores, catalog=rt.catalog, dry_run=not args.apply)
                for p in apps]
    server_outcomes = [apply_server_retention(s, stores=rt.stores, catalog=rt.catalog,
                                              dry_run=not args.apply) for s in servers]
    purge = purge_deleted_rows(rt.catalog, rt.config.keep_deleted_days,
                               apps=[p.name for p in apps], servers=[s.name for s in servers],
                               dry_run=not args.apply, actor=f"drctl:{getpass.getuser()}",
                               role="cli")

    def text() -> str:
        lines = []
        for o in outcomes:
            verb = "deleted" if not o.dry_run else "would delete"
            lines.append(f"{o.plan.app}: {verb} {len(o.plan.to_delete)} of "
                         f"{len(o.plan.decisions)} backups, {human(o.plan.bytes_freed)}")
            for d in o.plan.decisions:
                lines.append(f"  {'DELETE' if d.delete else 'keep  '} {d.backup_id}: {d.reason}")
            for backup_id, why in o.skipped.items():
                lines.append(f"  skipped {backup_id}: {why}")
        if server_outcomes:
            lines.append("servers: base backups, and the WAL the kept ones need")
            lines.extend(f"  {line}" for o in server_outcomes for line in server_lines(o))
        lines.append(purge.summary())
        if not args.apply:
            lines.append("dry run: nothing was deleted; add --apply to delete")
        return "\n".join(lines)

    emit(args, [*({**o.to_dict(), **purge.of_app(o.plan.app)} for o in outcomes),
                *({**o.to_dict(), **purge.of_server(o.plan.server)} for o in server_outcomes)],
         text)
    return 0


def server_lines(o: ServerRetentionOutcome) -> list[str]:
    p = o.plan
    verb = "would delete" if o.dry_run else "deleted"
    wal = o.wal_gone
    lines = [f"{p.server}: {verb} {len(o.backups_gone)} of "
             f"{len(p.backups.decisions)} base backups and {len(wal)} WAL files, "
             f"{human(p.bytes_freed)}"]
    for d in p.backups.decisions:
        lines.append(f"  {'DELETE' if d.delete else 'keep  '} {d.backup_id}: {d.reason}")
    kept_from = ", ".join(p.wal.keep_from) or "everything (no base backup kept)"
    lines.append(f"  WAL kept from {kept_from}: {p.wal.kept} files kept"
                 + (f"; {verb} {wal[0]} .. {wal[-1]}" if wal else ""))
    for what, why in o.skipped.items():
        lines.append(f"  skipped {what}: {why}")
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    status = estate_status(rt.config, rt.catalog)
    g = status.health
    doc = {
        "health_score": g.score, "status": g.status,
        "apps_meeting_rpo": g.apps_meeting_rpo, "apps_meeting_rto": g.apps_meeting_rto,
        "apps": [a.__dict__ for a in g.apps],
    }

    def text() -> str:
        return "\n".join([f"estate health {g.score:.0f}/100: {g.status}", *table(
            [("app", "24"), ("score", ">5"), ("age", ">7"), ("RPO", ">4"), ("RTO", ">4"),
             ("7d ok", ">6")],
            ([a.app, f"{a.score:.0f}",
              "-" if a.backup_age_hours is None else f"{a.backup_age_hours:.1f}h",
              "yes" if a.rpo_met else "NO", "yes" if a.rto_met else "NO",
              f"{a.success_rate_7d:.0%}"] for a in g.apps))])

    emit(args, doc, text)
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    alerts = rt.catalog.list_alerts(active=True if args.active else None)

    def text() -> str:
        if not alerts:
            return "no alerts"
        return "\n".join(f"#{a.id} {a.status:8} {a.severity:8} {a.message}" for a in alerts)

    emit(args, [a.to_dict() for a in alerts], text)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    secret = load_jwt_secret(rt.config.api)
    if not secret:
        raise AuthError(f"no JWT secret: set ${rt.config.api.jwt_secret_env} or create "
                        f"{rt.config.api.jwt_secret_file} (make up does)")
    token = mint_token(secret, rt.config.api, args.subject, args.role, args.ttl)
    emit(args, {"token": token, "role": args.role, "subject": args.subject,
                "expires_in": args.ttl}, lambda: token)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    report = rt.catalog.verify_audit_chain()
    emit(args, report.__dict__,
         lambda: f"audit chain intact: {report.rows} entries" if report.ok else
                 f"AUDIT CHAIN BROKEN: {report.problem}")
    return 0 if report.ok else 1
