"""Point-in-time drills in Dagster: a job per protected server, on its `pitr_drill_cron`."""

import dagster as dg

from dr_assets.core.drills.pitr_drill import run_pitr_drill
from dr_assets.core.policy import ServerPolicy
from dr_assets.core.runs import (
    KIND_DRILL,
    PITR_DRILL_OP,
    TAG_KIND,
    pitr_drill_job_name,
    server_run_tags,
)
from dr_assets.defs.resources import DRResource


class PitrDrillConfig(dg.Config):
    point: str = ""  # empty: a random restore point inside the window


def pitr_drill_job(server: ServerPolicy) -> dg.JobDefinition:
    name = server.name

    @dg.op(name=f"{name}_{PITR_DRILL_OP}", tags={TAG_KIND: KIND_DRILL})
    def drill(context: dg.OpExecutionContext, config: PitrDrillConfig,
              dr: DRResource) -> dg.Output[dict[str, object]]:
        rt = dr.runtime()
        result = run_pitr_drill(rt.config, name, stores=rt.stores, keyring=rt.keyring,
                                catalog=rt.catalog, point=config.point or None,
                                run_id=context.run.run_id)
        if not result.passed:
            raise dg.Failure(f"point-in-time drill of server {name} failed: {result.error}",
                             metadata={"point": result.point or ""})
        context.log.info(f"server {name} recovered to {result.point} in "
                         f"{result.recovery_seconds or 0:.1f} s; {result.tables} tables, "
                         f"{result.rows} rows as recorded")
        return dg.Output(result.to_dict(), metadata={
            "point": result.point or "", "recovery_seconds": result.recovery_seconds or 0.0,
            "rows": result.rows})

    @dg.job(name=pitr_drill_job_name(name), tags=server_run_tags(name, KIND_DRILL),
            executor_def=dg.in_process_executor,
            description=f"Recover server {name} to a restore point from WAL and prove every "
                        "table's rows are as recorded.")
    def job() -> None:
        drill()

    return job


def pitr_drill_schedule(server: ServerPolicy, job: dg.JobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=f"{server.name}_pitr_drill_schedule", job=job, cron_schedule=server.pitr_drill_cron,
        execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING)
