"""Nice ticks for the value axis (1, 2, 5 times a power of ten, in the unit that reads best)
and for the time axis (whole UTC days at a step that leaves a handful of labels)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

BYTE_UNITS = ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"), (1, "B"))
SECOND_UNITS = ((3600.0, "h"), (60.0, "min"), (1.0, "s"))
DAY_STEPS = (1, 2, 7, 14, 30, 61, 91, 182, 365)


@dataclass(frozen=True)
class Unit:
    """How the value axis speaks: values are divided by `scale` and suffixed with `name`."""

    scale: float
    name: str

    def label(self, value: float) -> str:
        shown = value / self.scale
        return f"{shown:.{_places(shown)}f} {self.name}"


def _places(shown: float) -> int:
    return 0 if shown == int(shown) else 1 if abs(shown * 10 - round(shown * 10)) < 1e-6 else 2


def unit_for(kind: str, top: float) -> Unit:
    """The largest unit in which `top` is at least 1: seconds under two minutes read as s,
    a few GiB as GiB."""
    units = BYTE_UNITS if kind == "bytes" else SECOND_UNITS
    for scale, name in units:
        if top >= 2 * scale or scale == units[-1][0]:
            return Unit(float(scale), name)
    raise AssertionError("unreachable: the last unit always matches")


def nice_step(span: float, count: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about `count` intervals over `span`."""
    if span <= 0:
        return 1.0
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def value_ticks(low: float, high: float, unit: Unit, count: int = 5) -> list[float]:
    """Ticks from a multiple of the step at or under `low` to one at or over `high`, nice
    in `unit` (values returned in base units: seconds, bytes)."""
    lo, hi = low / unit.scale, high / unit.scale
    if hi <= lo:
        hi = lo + 1
    step = nice_step(hi - lo, count)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    n = round((last - first) / step)
    return [round(first + i * step, 10) * unit.scale for i in range(n + 1)]


def day_ticks(start: datetime, end: datetime, count: int = 6) -> list[datetime]:
    """UTC midnights between start and end, every `step` days where step is the smallest
    of DAY_STEPS leaving at most `count` + 1 labels."""
    first = datetime.combine(start.astimezone(UTC).date(), time(), UTC)
    if first < start:
        first += timedelta(days=1)
    days = max((end - first).days, 0)
    step = next((s for s in DAY_STEPS if days / s <= count), DAY_STEPS[-1])
    out = []
    at = first
    while at <= end:
        out.append(at)
        at += timedelta(days=step)
    return out
