"""What the API holds for its lifetime: the runtime, the token verifier, the launcher, the
catalog's change feed and the answer cache it keeps fresh, the worker pool for blocking
calls and healthCheck's probes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from dr_assets.core.access.refusals import RefusalSummary, RefusalTally
from dr_assets.core.access.tokens import TokenVerifier
from dr_assets.core.catalog.changes import ChangeFeed
from dr_assets.core.health.estate import EstateStatus, estate_status
from dr_assets.core.health.forecasts import EstateForecast, estate_forecast
from dr_assets.core.policy import load_config
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.statuses import AuditResult
from dr_assets.core.wal.planning import read_window
from dr_assets.core.wal.window import RecoveryWindow
from dr_assets.launcher import DagsterLauncher
from graphql_api.rate_limit import ClientBuckets
from graphql_api.response_cache import ResponseCache
from graphql_api.status.probes import HealthChecks, component_probes
from graphql_api.workers import Workers

STATUS_TTL_SECONDS = 1.0
# Trends move over days: the estate's forecast (a few binned catalog reads over the window)
# once a minute at most, shared by every app's `forecast`, storageForecast and /metrics.
FORECAST_TTL_SECONDS = 60.0
# The recoverable window reads every store's listing: once per server in this time at most.
WINDOW_TTL_SECONDS = 15.0


@dataclass
class ApiState:
    runtime: DRRuntime
    verifier: TokenVerifier
    launcher: DagsterLauncher
    changes: ChangeFeed
    response_cache: ResponseCache
    workers: Workers
    health: HealthChecks
    # Per client address: requests without a token, and with a refused one (rate_limit.py).
    anonymous: ClientBuckets = field(default_factory=lambda: ClientBuckets(0, 1))
    refused: ClientBuckets = field(default_factory=lambda: ClientBuckets(0, 1))
    # Refused tokens per source and minute: the first audited at once, the rest summarised.
    refusals: RefusalTally = field(default_factory=RefusalTally)

    def estate(self) -> EstateStatus:
        """Estate health, computed at most once a second however many dashboards ask, and
        again as soon as the catalog changes or a mutation goes through: the catalog is not
        queried per request."""
        return self.response_cache.value(
            "estate", lambda: estate_status(self.runtime.config, self.runtime.catalog),
            STATUS_TTL_SECONDS)

    def forecast(self) -> EstateForecast:
        """The estate's forecasts, computed once per FORECAST_TTL_SECONDS (and again when
        the catalog changes) for every field that asks. Blocking: call it through `workers`
        in async code."""
        rt = self.runtime
        return self.response_cache.value(
            "forecast", lambda: estate_forecast(rt.config, rt.catalog, datetime.now(UTC)),
            FORECAST_TTL_SECONDS)

    def recovery_window(self, server: str) -> RecoveryWindow:
        """A protected server's recoverable window from the stores, computed at most once
        per WINDOW_TTL_SECONDS (and again when the catalog changes). Blocking: call it
        through `workers` in async code."""
        rt = self.runtime
        return self.response_cache.value(
            f"window:{server}", lambda: read_window(server, rt.stores, rt.keyring),
            WINDOW_TTL_SECONDS)

    @classmethod
    def load(cls, config_path: str | None = None) -> ApiState:
        config = load_config(config_path)
        api = config.api
        # Catalog calls run in the workers only, one connection each at a time.
        runtime = DRRuntime(config, catalog_pool_size=api.worker_threads)
        runtime.catalog.ensure()
        # Audit rows (every refused token and mutation writes one) change no answer kept:
        # the fields that read the audit log are never kept (response_cache.UNKEPT_FIELDS).
        # Launch tickets are read by no answer; slot samples (every minute) only by the
        # forecasts, which keep their own minute.
        changes = ChangeFeed(runtime.catalog.info,
                             ignore=frozenset({"audit_log", "launch_tickets", "slot_samples"}))
        launcher = DagsterLauncher(api.dagster_url)
        probes = component_probes(runtime, launcher, api.health_timeout_seconds)
        return cls(runtime=runtime, verifier=TokenVerifier(api), launcher=launcher,
                   changes=changes,
                   response_cache=ResponseCache(api.response_cache_seconds,
                                                lambda: changes.generation),
                   workers=Workers(api.worker_threads),
                   health=HealthChecks(probes, api.health_timeout_seconds,
                                       api.health_keep_seconds),
                   anonymous=ClientBuckets(api.anonymous_rate, api.anonymous_burst),
                   refused=ClientBuckets(api.refused_rate, api.refused_burst))

    def audit_refusals(self, summaries: list[RefusalSummary]) -> None:
        """One audit row per summary of a minute's refused tokens. Blocking."""
        for summary in summaries:
            self.runtime.catalog.audit("unauthenticated", "none", "authenticate",
                                       summary.arguments(), AuditResult.REFUSED,
                                       summary.detail())

    def open(self) -> ApiState:
        self.changes.start()
        return self

    def close(self) -> None:
        self.audit_refusals(self.refusals.drain())
        self.changes.stop()
        self.runtime.catalog.close()
