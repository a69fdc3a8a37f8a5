"""Point-in-time drills in Dagster: a job per protected server, on its `pitr_drill_cron`."""

import dagster as dg

from dr_assets.core.access.tickets import PITR_DRILL
from dr_assets.core.drills.pitr_drill import run_pitr_drill
from dr_assets.core.policy import ServerPolicy
from dr_assets.core.runs import (
    KIND_DRILL,
    TAG_KIND,
    pitr_drill_job_name,
    pitr_drill_launch,
    pitr_drill_op_name,
    server_run_tags,
)
from dr_assets.defs.jobs import run_request
from dr_assets.defs.resources import DRResource
from dr_assets.defs.tickets import checked_ticket, scheduled


class PitrDrillConfig(dg.Config):
    point: str = ""  # empty: a random restore point inside the window


def pitr_drill_job(server: ServerPolicy) -> dg.JobDefinition:
    name = server.name

    @dg.op(name=pitr_drill_op_name(name), tags={TAG_KIND: KIND_DRILL})
    def drill(context: dg.OpExecutionContext, config: PitrDrillConfig,
              dr: DRResource) -> dg.Output[dict[str, object]]:
        rt = dr.runtime()
        checked_ticket(context, rt, PITR_DRILL, {"server": name, **config.model_dump()})
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
    name = f"{server.name}_pitr_drill_schedule"

    @dg.schedule(name=name, job=job, cron_schedule=server.pitr_drill_cron,
                 execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING)
    def pitr_drill(context: dg.ScheduleEvaluationContext, dr: DRResource) -> dg.RunRequest:
        return run_request(scheduled(pitr_drill_launch(server.name), dr.runtime(), name),
                           run_key=None)

    return pitr_drill
