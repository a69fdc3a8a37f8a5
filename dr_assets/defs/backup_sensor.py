"""The one launcher of scheduled backups: every minute it asks core which apps' windows have
closed (plus each app's start offset) since it last looked, and requests one run each in the
cadence's job, with the app's asset selected. Its cursor is the moment it looked up to, so an
outage of the daemon delays backups but does not skip them (one catch-up run per app)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from dr_assets.core.policy import AppPolicy
from dr_assets.core.runs import BACKUP_SENSOR, backup_launch
from dr_assets.core.scheduling.due import DueBackup, due_backups, look_after
from dr_assets.defs.jobs import run_request


def backup_requests(policies: Sequence[AppPolicy], due: Sequence[DueBackup]
                    ) -> list[dg.RunRequest]:
    by_name = {p.name: p for p in policies}
    return [run_request(backup_launch(by_name[d.app], d.partition),
                        run_key=f"{d.app}:{d.partition}", partition=d.partition) for d in due]


def backup_windows_sensor(policies: Sequence[AppPolicy],
                          jobs: Sequence[dg.UnresolvedAssetJobDefinition]) -> dg.SensorDefinition:
    @dg.sensor(name=BACKUP_SENSOR, jobs=list(jobs), minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Starts each app's backup at its start offset after its window "
                           "closes, in the cadence's backup job.")
    def backups(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        now = datetime.now(UTC)
        due = due_backups(policies, look_after(context.cursor, now), now)
        return dg.SensorResult(run_requests=backup_requests(policies, due),
                               cursor=now.isoformat())

    return backups
