"""Launch tickets for the runs tests launch themselves, as the API or a schedule would mint
them (core/access/tickets.py): the ops refuse runs that write a database or delete a
backup without one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dr_assets.core.runs import TAG_SERVER, LaunchRequest, drill_asset_path
from dr_assets.core.runtime import DRRuntime


def ticketed(config_path: Path | str, request: LaunchRequest, *, who: str = "ada",
             role: str = "admin") -> dict[str, str]:
    """REQUEST's tags with who asked and its launch ticket, signed with the keys of the
    dr.toml at CONFIG_PATH."""
    keys = DRRuntime.load(str(config_path)).ticket_keys
    return dict(request.ticketed(keys, who=who, role=role, now=datetime.now(UTC)).tags)


def ticket_tags(config_path: Path | str, job: str, run_config: Mapping[str, Any] | None = None,
                *, apps: Sequence[str] = (), server: str | None = None,
                tags: Mapping[str, str] | None = None, who: str = "ada") -> dict[str, str]:
    """The tags of a run of JOB with RUN_CONFIG (selecting the drills of APPS, of SERVER's
    point-in-time drill job), its ticket among them."""
    request = LaunchRequest(job, dict(run_config or {}),
                            tags={**(tags or {}), **({TAG_SERVER: server} if server else {})},
                            asset_selection=tuple(drill_asset_path(a) for a in apps))
    return ticketed(config_path, request, who=who)
