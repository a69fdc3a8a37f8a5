"""Backup partitions: one time window per backup at the app's cadence."""

from __future__ import annotations

import dagster as dg

from dr_assets.core.policy import AppPolicy

PARTITIONS_START = "2026-11-01-00:00"
PARTITION_FMT = "%Y-%m-%d-%H:%M"


def cadence_cron(every_hours: int) -> str:
    if every_hours < 24:
        return "0 * * * *" if every_hours == 1 else f"0 */{every_hours} * * *"
    days = every_hours // 24
    return "0 0 * * *" if days == 1 else f"0 0 */{days} * *"


def backup_partitions(policy: AppPolicy) -> dg.TimeWindowPartitionsDefinition:
    return dg.TimeWindowPartitionsDefinition(
        start=PARTITIONS_START,
        cron_schedule=cadence_cron(policy.every_hours),
        fmt=PARTITION_FMT,
        timezone="UTC",
    )


REPORT_PARTITIONS_START = "2026-10-01"  # a month before backups start: sync can bring older ones


def report_partitions() -> dg.MonthlyPartitionsDefinition:
    """One compliance report per calendar month (UTC), available once the month is over."""
    return dg.MonthlyPartitionsDefinition(start_date=REPORT_PARTITIONS_START, timezone="UTC")
