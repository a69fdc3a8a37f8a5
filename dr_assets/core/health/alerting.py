"""Alert conditions (pure) and their reconciliation with the catalog.

An alert is opened once per (app, kind) and resolved by itself when its condition clears;
each opening and resolution leaves an outbox row (the catalog's trigger) that
core/delivery/dispatch.py routes to the configured channels and delivers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.rows import AlertRow, AppFacts
from dr_assets.core.health.forecasts import (
    FORECAST_KINDS,
    RTO_FORECAST,
    SLOT_FORECAST,
    STORAGE_FORECAST,
    EstateForecast,
)
from dr_assets.core.health.scores import DRILL_WINDOW, AppHealth, readiness_fraction
from dr_assets.core.policy import AppPolicy
from dr_assets.core.statuses import BackupStatus, Protection

WARNING, CRITICAL = "warning", "critical"
GLOBAL = "*"
# Kinds the evaluator owns; run-failure alerts are opened by the run-failure sensor.
BACKUP_FAILED = "backup_failed"
BACKUP_DEGRADED = "backup_degraded"
HEALTH_LOW = "health_low"
RPO_VIOLATED = "rpo_violated"
RTO_VIOLATED = "rto_violated"
STORAGE_QUOTA = "storage_quota"
EVALUATED_KINDS = (BACKUP_FAILED, BACKUP_DEGRADED, HEALTH_LOW, RPO_VIOLATED, RTO_VIOLATED,
                   STORAGE_QUOTA, *FORECAST_KINDS)
RUN_FAILED = "run_failed"


@dataclass(frozen=True)
class AlertCondition:
    app: str
    kind: str
    severity: str
    message: str


def evaluate(
    policies: Mapping[str, AppPolicy],
    facts: Mapping[str, AppFacts],
    health: Mapping[str, AppHealth],
    now: datetime,
    storage_quota_bytes: int | None = None,
    quota_threshold: float = 0.9,
) -> list[AlertCondition]:
    """Every alert condition that holds now (DESIGN.md section 9)."""
    out: list[AlertCondition] = []
    for name, policy in policies.items():
        f, h = facts[name], health[name]
        severity = CRITICAL if policy.critical else WARNING
        if f.failures_24h:
            out.append(AlertCondition(name, BACKUP_FAILED, severity,
                                      f"{name}: {f.failures_24h} backup(s) failed in the last 24 h"))
        if f.newest_status == BackupStatus.DEGRADED:
            out.append(AlertCondition(name, BACKUP_DEGRADED, WARNING,
                                      f"{name}: the newest backup is missing a copy on one "
                                      "destination: run `drctl catalog sync` once it is back"))
        if policy.critical and h.score < 80:
            out.append(AlertCondition(name, HEALTH_LOW, CRITICAL,
                                      f"{name}: health score {h.score:.0f} is under 80"))
        if not h.rpo_met:
            out.append(AlertCondition(name, RPO_VIOLATED, severity, rpo_message(policy, h)))
        if readiness_fraction(f.last_drill, policy.rto_hours, now) < 1.0:
            d = f.last_drill
            if d is None or now - d.finished_at > DRILL_WINDOW:
                why = "no restore drill passed in the last 30 days"
            elif not d.passed:
                why = "the last restore drill failed"
            else:
                why = (f"the last drill restored in {(d.restore_seconds or 0) / 3600:.2f} h, "
                       f"over the RTO of {policy.rto_hours:g} h")
            out.append(AlertCondition(name, RTO_VIOLATED, severity, f"{name}: RTO at risk: {why}"))
    if storage_quota_bytes:
        used = sum(f.stored_bytes for f in facts.values())
        if used > storage_quota_bytes * quota_threshold:
            out.append(AlertCondition(
                GLOBAL, STORAGE_QUOTA, WARNING,
                f"backup storage at {used / storage_quota_bytes:.0%} of its quota "
                f"({used} of {storage_quota_bytes} bytes)"))
    return out


def forecast_conditions(policies: Mapping[str, AppPolicy],
                        forecast: EstateForecast) -> list[AlertCondition]:
    """A limit forecast to be reached within [forecasts] alert_days_ahead: warnings, in
    time to act before the RTO, the quota or a slot's disk is actually reached."""
    out: list[AlertCondition] = []
    ahead = f"within {forecast.alert_days_ahead} days"
    for name, app in forecast.apps.items():
        line = app.restore
        days = forecast.within_alert(line)
        if line is not None and days is not None and line.limit is not None:
            out.append(AlertCondition(name, RTO_FORECAST, WARNING, (
                f"{name}: restore time forecast to reach the RTO of "
                f"{policies[name].rto_hours:g} h on {line.crosses_on} ({days} days, {ahead}): "
                f"drills restore in {line.now_value / 3600:.2f} h now, rising "
                f"{line.slope_per_day:.0f} s a day; make the restore faster or the RTO longer")))
    line = forecast.storage
    days = forecast.within_alert(line)
    if line is not None and days is not None and line.limit:
        out.append(AlertCondition(GLOBAL, STORAGE_FORECAST, WARNING, (
            f"backup storage forecast to reach its quota of {line.limit / (1 << 30):.1f} GiB"
            f" on {line.crosses_on} ({days} days, {ahead}): {line.now_value / (1 << 30):.1f}"
            f" GiB now, growing {line.slope_per_day / (1 << 30):.2f} GiB a day; raise "
            "[storage] quota_gb or shorten retention")))
    for server, line in forecast.slots.items():
        days = forecast.within_alert(line)
        if line is not None and days is not None and line.limit:
            out.append(AlertCondition(f"server:{server}", SLOT_FORECAST, WARNING, (
                f"server {server}: replication slot forecast to retain "
                f"{line.limit / (1 << 30):.2f} GiB of WAL (its limit) on {line.crosses_on} "
                f"({days} days, {ahead}): {line.now_value / (1 << 30):.2f} GiB now, growing "
                f"{line.slope_per_day / (1 << 20):.1f} MiB a day: is the WAL streamer "
                "keeping up?")))
    return out


def rpo_message(policy: AppPolicy, h: AppHealth) -> str:
    """Why the RPO is not met, in the measure the app's protection uses."""
    if h.protection == Protection.WAL:
        limit = policy.rpo_hours * 3600
        why = (f"no WAL of server {policy.server} is held by any destination"
               if h.rpo_seconds is None else
               f"rpo_seconds {h.rpo_seconds:.0f} over the policy's {limit:.0f}: the newest WAL "
               f"of server {policy.server} any destination holds was received "
               f"{h.rpo_seconds:.0f} s ago")
    else:
        why = ("no verified backup" if h.backup_age_hours is None
               else f"newest verified backup is {h.backup_age_hours:.1f} h old")
    return f"{policy.name}: RPO of {policy.rpo_hours:g} h violated ({why})"


@dataclass
class AlertChanges:
    opened: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[AlertRow] = field(default_factory=list)


def reconcile(catalog: Catalog, conditions: Sequence[AlertCondition]) -> AlertChanges:
    """Open alerts for new conditions, resolve evaluator-owned alerts whose condition cleared
    (their delivery is the dispatcher's, from the outbox)."""
    changes = AlertChanges()
    holding = {(c.app, c.kind) for c in conditions}
    for c in conditions:
        alert_id = catalog.open_alert(c.app, c.kind, c.severity, c.message)
        if alert_id is not None:
            changes.opened.append({"id": alert_id, **c.__dict__})
    for row in catalog.open_alerts():
        if row.kind in EVALUATED_KINDS and (row.app, row.kind) not in holding:
            catalog.resolve_alert(row.id)
            changes.resolved.append(row)
    return changes


def open_run_failure(catalog: Catalog, app: str, job: str, run_id: str, error: str) -> int | None:
    """An alert for a failed backup, drill or restore run (opened by the run-failure sensor)."""
    message = f"{app}: Dagster run {run_id} of {job} failed: {error}"
    return catalog.open_alert(app, f"{RUN_FAILED}:{job}", CRITICAL, message)
