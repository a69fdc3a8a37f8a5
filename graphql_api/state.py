"""What the API holds for its lifetime: the runtime, the token verifier, the launcher."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from dr_assets.core.runtime import DRRuntime
from dr_assets.core.status import EstateStatus, estate_status
from dr_assets.core.tokens import TokenVerifier
from graphql_api.launcher import DagsterLauncher

STATUS_TTL_SECONDS = 1.0


@dataclass
class ApiState:
    runtime: DRRuntime
    verifier: TokenVerifier
    launcher: DagsterLauncher
    _status: tuple[float, EstateStatus] | None = field(default=None, repr=False)
    _status_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def estate(self) -> EstateStatus:
        """Estate health, computed at most once a second however many dashboards ask:
        the tiles are a second old at worst, and the catalog is not queried per request."""
        cached = self._status
        if cached is not None and time.monotonic() - cached[0] < STATUS_TTL_SECONDS:
            return cached[1]
        with self._status_lock:
            cached = self._status
            if cached is not None and time.monotonic() - cached[0] < STATUS_TTL_SECONDS:
                return cached[1]
            status = estate_status(self.runtime.config, self.runtime.catalog)
            self._status = (time.monotonic(), status)
            return status

    @classmethod
    def load(cls, config_path: str | None = None) -> ApiState:
        runtime = DRRuntime.load(config_path, catalog_pool_size=16)
        runtime.catalog.ensure()
        api = runtime.config.api
        return cls(runtime=runtime, verifier=TokenVerifier(api),
                   launcher=DagsterLauncher(api.dagster_url))
