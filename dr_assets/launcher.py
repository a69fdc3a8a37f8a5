"""Launching and following Dagster runs through the webserver's GraphQL endpoint, for the API
and `make up` alike; what a run is made of is the run contract (dr_assets.core.runs)."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from dagster_graphql import DagsterGraphQLClient

from dr_assets.core.runs import LOCATION, REPOSITORY, LaunchRequest


class DagsterUnavailableError(Exception):
    """The webserver could not be reached or refused the launch."""


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else repr(exc)


@dataclass(frozen=True)
class DagsterLauncher:
    url: str
    timeout: int = 30

    def _client(self) -> DagsterGraphQLClient:
        parts = urlsplit(self.url)
        try:
            return DagsterGraphQLClient(
                parts.hostname or "127.0.0.1", port_number=parts.port,
                use_https=parts.scheme == "https", timeout=self.timeout,
                path_prefix=parts.path.rstrip("/"),
            )
        except Exception as exc:
            raise DagsterUnavailableError(f"Dagster at {self.url} is unreachable: {exc}") from None

    def launch(self, request: LaunchRequest) -> str:
        """The run id of the launched run (the daemon's run queue starts it)."""
        client = self._client()
        try:
            return client.submit_job_execution(
                request.job, repository_location_name=LOCATION, repository_name=REPOSITORY,
                run_config=dict(request.run_config), tags=dict(request.tags),
                asset_selection=[list(p) for p in request.asset_selection] or None,
            )
        except Exception as exc:
            raise DagsterUnavailableError(f"Dagster at {self.url} did not launch {request.job}: "
                                          f"{_first_line(exc)}") from None

    def run_status(self, run_id: str) -> str:
        client = self._client()
        try:
            return str(client.get_run_status(run_id).value)
        except Exception as exc:
            raise DagsterUnavailableError(f"Dagster at {self.url} could not report run {run_id}: "
                                          f"{_first_line(exc)}") from None

    def reachable(self, timeout: float = 3) -> bool:
        """Whether the webserver answers /server_info within `timeout` seconds (per connect
        and per read)."""
        try:
            with urllib.request.urlopen(f"{self.url.rstrip('/')}/server_info",  # noqa: S310
                                        timeout=timeout) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False
