"""The registry of long-running processes that `make up` starts and `make down` stops.

To manage a new service (dagster-webserver, dagster-daemon, the API): start it in
`up.py` with `state.spawn(run, NAME, argv, log=..., cwd=...)` and add an entry here.
`make down` stops every recorded process, in the reverse order of this list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dr_assets.devstack import seaweed


@dataclass(frozen=True)
class ManagedProcess:
    name: str                                   # PID file: .dr/run/<name>.pid
    title: str                                  # what the messages call it
    stop: Callable[[int], None] = seaweed.stop  # SIGTERM to its process group, then SIGKILL


SEAWEED = ManagedProcess("seaweed", "SeaweedFS (S3)")

# In start order; `make down` stops them last first.
SERVICES: tuple[ManagedProcess, ...] = (SEAWEED,)


def lookup(name: str) -> ManagedProcess:
    """The registered service NAME, or a generic one for a PID file we do not know."""
    for service in SERVICES:
        if service.name == name:
            return service
    return ManagedProcess(name, name)


def stop_order(names: list[str]) -> list[str]:
    """Registered services last first, then any unknown PID files."""
    known = [s.name for s in reversed(SERVICES) if s.name in names]
    return known + sorted(n for n in names if n not in known)
