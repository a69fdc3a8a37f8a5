"""The monthly compliance evidence report: built from the catalog, stored in every store."""

# No `from __future__ import annotations`: Dagster reads the context annotation at runtime.

import dagster as dg

from dr_assets.core.compliance import ReportPeriod, build_report
from dr_assets.core.compliance.publish import publish_report
from dr_assets.core.policy import AppPolicy
from dr_assets.core.runs import COMPLIANCE_REPORT_JOB, KIND_REPORT, kind_tags
from dr_assets.defs.keys import COMPLIANCE_REPORT_KEY, backup_key, drill_key
from dr_assets.defs.partitions import report_partitions
from dr_assets.defs.resources import DRResource

GROUP = "compliance"


def compliance_report_asset(policies: list[AppPolicy]) -> dg.AssetsDefinition:
    @dg.asset(
        key=COMPLIANCE_REPORT_KEY, partitions_def=report_partitions(), group_name=GROUP,
        deps=[k for p in policies for k in (backup_key(p.name), drill_key(p.name))],
        kinds={"html", "json"},
        description="Monthly compliance evidence: per app every backup window and whether a "
                    "verified backup covered it, checksum checks, drills against the RTO, "
                    "deletions, alerts, restores and who asked, and the audit chain's verdict; "
                    "stored as reports/<YYYY-MM>.html and .json in every store.",
    )
    def report(context: dg.AssetExecutionContext, dr: DRResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        rt = dr.runtime()
        period = ReportPeriod.month(context.partition_time_window.start.date())
        evidence = build_report(rt.config, rt.catalog, period)
        published = publish_report(evidence, rt.stores)
        if published.errors:
            raise dg.Failure(
                description="the compliance report could not be stored on "
                            + "; ".join(f"{n}: {e}" for n, e in published.errors.items()),
                metadata={"stored_on": dg.MetadataValue.json(published.locations)})
        totals = evidence.totals()
        return dg.MaterializeResult(metadata={
            "period": f"{period.first_day} to {period.last_day}",
            "windows_covered": totals["windows_covered"],
            "windows_missed": totals["windows_missed"],
            "verifications_failed": totals["verifications_failed"],
            "drills_within_rto": totals["drills_within_rto"],
            "restores": totals["restores"],
            "audit_chain_ok": evidence.audit_chain.ok,
            "stored_on": dg.MetadataValue.json(published.locations),
            "summary": dg.MetadataValue.md(_summary_table(evidence.to_dict()["summary"])),
        })

    return report


def _summary_table(summary: list[dict[str, object]]) -> str:
    lines = ["| app | windows covered | missed | checks failed | drills within RTO | restores |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {s['app']} | {s['windows_covered']} / {s['windows_total']} | "
              f"{s['windows_missed']} | {s['verifications_failed']} | "
              f"{s['drills_within_rto']} / {s['drills']} | {s['restores']} |" for s in summary]
    return "\n".join(lines)


def compliance_report_job() -> "dg.UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        COMPLIANCE_REPORT_JOB, selection=dg.AssetSelection.assets(COMPLIANCE_REPORT_KEY),
        partitions_def=report_partitions(), executor_def=dg.in_process_executor,
        tags=kind_tags(KIND_REPORT),
        description="Build a month's compliance report and store it beside the backups.")


def compliance_report_schedule(job: "dg.UnresolvedAssetJobDefinition"
                               ) -> "dg.UnresolvedPartitionedAssetScheduleDefinition":
    """Early on the 1st, the month that just ended."""
    return dg.build_schedule_from_partitioned_job(
        job, name="compliance_report_schedule", hour_of_day=4, minute_of_hour=30,
        default_status=dg.DefaultScheduleStatus.RUNNING)
