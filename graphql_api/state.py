"""What the API holds for its lifetime: the runtime, the token verifier, the launcher."""

from __future__ import annotations

from dataclasses import dataclass

from dr_assets.core.runtime import DRRuntime
from dr_assets.core.tokens import TokenVerifier
from graphql_api.launcher import DagsterLauncher


@dataclass
class ApiState:
    runtime: DRRuntime
    verifier: TokenVerifier
    launcher: DagsterLauncher

    @classmethod
    def load(cls, config_path: str | None = None) -> ApiState:
        runtime = DRRuntime.load(config_path, catalog_pool_size=16)
        runtime.catalog.ensure()
        api = runtime.config.api
        return cls(runtime=runtime, verifier=TokenVerifier(api),
                   launcher=DagsterLauncher(api.dagster_url))
