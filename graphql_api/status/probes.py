"""healthCheck's probes: the catalog, each store and Dagster are asked at once, each in a
thread of its own, and a component that does not answer within the timeout counts as down.
The answer is kept for a few seconds, and callers that ask meanwhile share it, so a flood of
healthCheck calls costs one probe per component per keep window.

A probe that does not answer goes on waiting in its thread (a thread cannot be stopped);
the next check waits on that same probe rather than starting another, so a hung component
holds one thread, not one per check. The probes carry timeouts of their own as well (the
catalog's connect, lock and statement timeouts, Dagster's socket timeout), so they end.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime

from dr_assets.core.runtime import DRRuntime
from dr_assets.core.stores.base import Store
from dr_assets.launcher import DagsterLauncher, DagsterUnavailableError

Probe = Callable[[], str]  # what a component says when up; raises saying why when down


@dataclass(frozen=True)
class Component:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Checked:
    components: tuple[Component, ...]
    at: datetime

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.components)


def component_probes(runtime: DRRuntime, launcher: DagsterLauncher, timeout: float
                     ) -> dict[str, Probe]:
    """The catalog's, every store's and Dagster's probe, by component name."""

    def catalog() -> str:
        runtime.catalog.probe(timeout)
        return "reachable"

    def store_probe(store: Store) -> Probe:
        def probe() -> str:
            store.check()
            return store.describe("")
        return probe

    def dagster() -> str:
        if not launcher.reachable(timeout):
            raise DagsterUnavailableError(f"{launcher.url} unreachable")
        return launcher.url

    return {"catalog": catalog,
            **{f"store:{s.name}": store_probe(s) for s in runtime.stores},
            "dagster": dagster}


def _in_thread(name: str, probe: Probe) -> Future[str]:
    future: Future[str] = Future()
    future.set_running_or_notify_cancel()  # from now on cancel() fails: it runs to its end

    def run() -> None:
        try:
            future.set_result(probe())
        except Exception as exc:  # whatever a probe raises, it says "down"
            future.set_exception(exc)

    threading.Thread(target=run, name=f"dr-health-{name}", daemon=True).start()
    return future


class HealthChecks:
    """Concurrent probes with a timeout, one round per keep window; see the module."""

    def __init__(self, probes: Mapping[str, Probe], timeout: float, keep: float) -> None:
        self.probes = dict(probes)
        self.timeout = timeout
        self.keep = keep
        self._kept: tuple[float, Checked] | None = None
        self._lock = asyncio.Lock()
        self._running: dict[str, tuple[Future[str], float]] = {}

    async def check(self) -> Checked:
        """Every component's state, as probed at most `keep` seconds ago."""
        async with self._lock:  # callers arriving during a round share it
            if self._kept is not None and time.monotonic() - self._kept[0] < self.keep:
                return self._kept[1]
            components = await asyncio.gather(*(self._probe(name) for name in self.probes))
            checked = Checked(tuple(components), datetime.now(UTC))
            self._kept = (time.monotonic(), checked)
            return checked

    async def _probe(self, name: str) -> Component:
        running = self._running.get(name)
        if running is None or running[0].done():
            running = (_in_thread(name, self.probes[name]), time.monotonic())
            self._running[name] = running
        future, started = running
        try:
            # Giving up cancels this wrapper only: a running probe cannot be cancelled.
            detail = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError:
            waited = time.monotonic() - started
            still = (f" (its probe has been waiting {waited:.0f} s)"
                     if waited > 2 * self.timeout else "")
            return Component(name, False, f"no answer within {self.timeout:g} s{still}")
        except Exception as exc:  # the probe's own failure is the answer
            return Component(name, False, str(exc))
        return Component(name, True, detail)
