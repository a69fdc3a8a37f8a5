"""Backup partitions: one time window per backup at the app's cadence, and per base backup
at the server's (the run contract's windows, dr_assets.core.runs); compliance reports: one
per month."""

from __future__ import annotations

import dagster as dg

from dr_assets.core.policy import AppPolicy, ServerPolicy
from dr_assets.core.runs import PARTITION_FMT, PARTITIONS_START, cadence_cron


def cadence_partitions(every_hours: int) -> dg.TimeWindowPartitionsDefinition:
    return dg.TimeWindowPartitionsDefinition(
        start=PARTITIONS_START,
        cron_schedule=cadence_cron(every_hours),
        fmt=PARTITION_FMT,
        timezone="UTC",
    )


def backup_partitions(policy: AppPolicy) -> dg.TimeWindowPartitionsDefinition:
    return cadence_partitions(policy.every_hours)


def base_backup_partitions(policy: ServerPolicy) -> dg.TimeWindowPartitionsDefinition:
    return cadence_partitions(policy.base_backup_every_hours)


REPORT_PARTITIONS_START = "2026-10-01"  # a month before backups start: sync can bring older ones


def report_partitions() -> dg.MonthlyPartitionsDefinition:
    """One compliance report per calendar month (UTC), available once the month is over."""
    return dg.MonthlyPartitionsDefinition(start_date=REPORT_PARTITIONS_START, timezone="UTC")
