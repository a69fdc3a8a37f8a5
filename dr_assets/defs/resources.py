"""The one Dagster resource: a handle on dr.toml and the runtime built from it."""

from __future__ import annotations

import dagster as dg

from dr_assets.core.runtime import DRRuntime


class DRResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Points at dr.toml; an empty path means $DR_CONFIG or ./dr.toml."""

    config_path: str = ""

    def runtime(self) -> DRRuntime:
        return DRRuntime.load(self.config_path or None)
