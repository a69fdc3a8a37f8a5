"""`make up`'s first backups as Dagster runs: each app's `<app>_backup_job` for its newest
complete partition, launched through the webserver (the daemon's run queue starts it)
and followed until it ends. A backup run of the app that is still queued or running (say
from an interrupted `make up`, or its schedule) is followed instead of launching another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dr_assets.core.policy import DRConfig
from dr_assets.devstack.net import graphql

RUN_TIMEOUT = 600.0
POLL_SECONDS = 1.0
DONE = ("SUCCESS", "FAILURE", "CANCELED")
ACTIVE = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")

_ACTIVE_RUNS = """query ($filter: RunsFilter) { runsOrError(filter: $filter, limit: 1) {
  __typename ... on Runs { results { runId status tags { key value } } } } }"""

_RUN_ERRORS = """query ($runId: ID!) { logsForRun(runId: $runId, limit: 500) {
  __typename ... on EventConnection { events { __typename
    ... on ErrorEvent { error { message } } } } } }"""


class LaunchError(Exception):
    """Dagster refused the run (the message says why)."""


@dataclass
class BackupRun:
    app: str
    job: str
    partition: str
    run_id: str
    adopted: bool                       # an earlier run we only follow
    started: float
    status: str = "QUEUED"
    error: str = ""

    def url(self, dagster_url: str) -> str:
        return f"{dagster_url}/runs/{self.run_id}"


def job_name(app: str) -> str:
    return f"{app}_backup_job"


def newest_partition(config: DRConfig, app: str) -> str | None:
    from dr_assets.defs.partitions import backup_partitions  # imports dagster: ~2 s

    return backup_partitions(config.app(app)).get_last_partition_key()


def active_run(gql_url: str, app: str) -> tuple[str, str, str] | None:
    """(run id, status, partition) of a backup run of APP that has not ended yet."""
    from dr_assets.defs.keys import TAG_BACKUP_SLOT

    data = graphql(gql_url, _ACTIVE_RUNS, {"filter": {
        "tags": [{"key": TAG_BACKUP_SLOT, "value": app}], "statuses": list(ACTIVE)}})
    runs = data["runsOrError"]
    for run in runs.get("results") or []:
        tags = {t["key"]: t["value"] for t in run.get("tags") or []}
        return str(run["runId"]), str(run["status"]), tags.get("dagster/partition", "?")
    return None


def launch(host: str, port: int, gql_url: str, config: DRConfig, app: str,
           location: str, repository: str) -> BackupRun:
    """Launch (or adopt) the backup run of APP; LaunchError when Dagster refuses."""
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    job = job_name(app)
    try:
        running = active_run(gql_url, app)
    except RuntimeError:
        running = None
    if running is not None:
        run_id, status, partition = running
        return BackupRun(app, job, partition, run_id, adopted=True, started=time.monotonic(),
                         status=status)
    newest = newest_partition(config, app)
    if newest is None:
        raise LaunchError(f"{job} has no complete partition yet (they start at the cadence's "
                          "first window)")
    client = DagsterGraphQLClient(host, port_number=port)
    try:
        run_id = client.submit_job_execution(
            job, repository_location_name=location, repository_name=repository,
            tags={"dagster/partition": newest})
    except DagsterGraphQLClientError as exc:
        why = ": ".join(str(a).strip() for a in exc.args if a) or type(exc).__name__
        raise LaunchError(f"Dagster refused {job} ({why.splitlines()[0][:300]})") from None
    return BackupRun(app, job, newest, run_id, adopted=False, started=time.monotonic())


def first_error(gql_url: str, run_id: str) -> str:
    """The first error message in the run's event log ('' when there is none)."""
    try:
        data = graphql(gql_url, _RUN_ERRORS, {"runId": run_id})["logsForRun"]
    except (RuntimeError, KeyError):
        return ""
    for event in data.get("events") or []:
        message = ((event.get("error") or {}).get("message") or "").strip()
        if message:
            return message.splitlines()[0][:400]
    return ""


def follow(host: str, port: int, gql_url: str, runs: Sequence[BackupRun],
           timeout: float = RUN_TIMEOUT) -> Iterator[BackupRun]:
    """Poll until every run has ended or TIMEOUT passed, yielding each run as it ends (those
    not yielded were still going at the timeout, with their last status)."""
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    client = DagsterGraphQLClient(host, port_number=port)
    pending = list(runs)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for run in list(pending):
            try:
                run.status = client.get_run_status(run.run_id).value
            except DagsterGraphQLClientError as exc:
                run.error = f"cannot read its status: {exc}"
                continue
            if run.status in DONE:
                if run.status != "SUCCESS":
                    run.error = first_error(gql_url, run.run_id)
                pending.remove(run)
                yield run
        if pending:
            time.sleep(POLL_SECONDS)
