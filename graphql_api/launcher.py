"""Launching Dagster runs through the Dagster webserver's GraphQL endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dagster_graphql import DagsterGraphQLClient

LOCATION = "dr_assets"
REPOSITORY = "__repository__"


class DagsterUnavailableError(Exception):
    """The webserver could not be reached or refused the launch."""


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

    def launch(self, job: str, run_config: dict[str, Any] | None = None,
               tags: dict[str, str] | None = None) -> str:
        try:
            return self._client().submit_job_execution(
                job, repository_location_name=LOCATION, repository_name=REPOSITORY,
                run_config=run_config or {}, tags=tags or {},
            )
        except DagsterUnavailableError:
            raise
        except Exception as exc:
            raise DagsterUnavailableError(f"Dagster at {self.url} did not launch {job}: "
                                          f"{str(exc).splitlines()[0] if str(exc) else exc!r}"
                                          ) from None

    def run_status(self, run_id: str) -> str:
        try:
            return str(self._client().get_run_status(run_id).value)
        except DagsterUnavailableError:
            raise
        except Exception as exc:
            raise DagsterUnavailableError(f"Dagster at {self.url} could not report run {run_id}: "
                                          f"{str(exc).splitlines()[0] if str(exc) else exc!r}"
                                          ) from None

    def reachable(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url.rstrip('/')}/server_info",  # noqa: S310
                                        timeout=3) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False
