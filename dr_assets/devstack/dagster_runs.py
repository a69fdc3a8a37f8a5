"""`make up`'s first backups as Dagster runs: each app's backup (in its cadence's job, its
asset selected) for its newest complete partition, launched through the webserver (the
daemon's run queue starts it) and followed until it ends. A backup run of the app that is
still queued or running (say from an interrupted `make up`, or its sensor) is followed
instead of launching another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dr_assets.core.policy import DRConfig
from dr_assets.core.runs import TAG_BACKUP_SLOT, TAG_PARTITION, backup_launch, backup_partition
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
    """Dagster refused the run, or it has nothing to back up yet (the message says why)."""


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


def active_run(gql_url: str, app: str) -> tuple[str, str, str] | None:
    """(run id, status, partition) of a backup run of APP that has not ended yet."""
    data = graphql(gql_url, _ACTIVE_RUNS, {"filter": {
        "tags": [{"key": TAG_BACKUP_SLOT, "value": app}], "statuses": list(ACTIVE)}})
    runs = data["runsOrError"]
    for run in runs.get("results") or []:
        tags = {t["key"]: t["value"] for t in run.get("tags") or []}
        return str(run["runId"]), str(run["status"]), tags.get(TAG_PARTITION, "?")
    return None


def launch(dagster_url: str, gql_url: str, config: DRConfig, app: str) -> BackupRun:
    """Launch (or adopt) the backup run of APP; LaunchError when Dagster refuses."""
    from dr_assets.launcher import DagsterLauncher, DagsterUnavailableError  # imports dagster: ~2 s

    newest = backup_partition(config.app(app), datetime.now(UTC))
    request = backup_launch(config.app(app), newest)
    try:
        running = active_run(gql_url, app)
    except RuntimeError:
        running = None
    if running is not None:
        run_id, status, partition = running
        return BackupRun(app, request.job, partition, run_id, adopted=True,
                         started=time.monotonic(), status=status)
    if newest is None:
        raise LaunchError(f"{request.job} has no complete partition yet (they start at the "
                          "cadence's first window)")
    try:
        run_id = DagsterLauncher(dagster_url).launch(request)
    except DagsterUnavailableError as exc:
        raise LaunchError(str(exc)) from None
    return BackupRun(app, request.job, newest, run_id, adopted=False, started=time.monotonic())


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


def follow(dagster_url: str, gql_url: str, runs: Sequence[BackupRun],
           timeout: float = RUN_TIMEOUT) -> Iterator[BackupRun]:
    """Poll until every run has ended or TIMEOUT passed, yielding each run as it ends (those
    not yielded were still going at the timeout, with their last status)."""
    from dr_assets.launcher import DagsterLauncher, DagsterUnavailableError  # imports dagster: ~2 s

    launcher = DagsterLauncher(dagster_url)
    pending = list(runs)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for run in list(pending):
            try:
                run.status = launcher.run_status(run.run_id)
            except DagsterUnavailableError as exc:
                run.error = f"cannot read its status: {exc}"
                continue
            if run.status in DONE:
                if run.status != "SUCCESS":
                    run.error = first_error(gql_url, run.run_id)
                pending.remove(run)
                yield run
        if pending:
            time.sleep(POLL_SECONDS)
