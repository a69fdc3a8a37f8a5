"""A trend chart's inputs: observations over a window, the limit they must stay under, the
forecast fitted to them and the anomalies found in them; what the SVG draws and nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dr_assets.core.forecasting.line import ForecastLine


@dataclass(frozen=True)
class TrendPoint:
    """One observation: a drill's restore seconds, a backup's stored bytes, a day's storage.
    `ref` says what it is in words fit for the public status page (no backup or drill ids:
    the public fields never show them); `anomaly` says what was anomalous about it."""

    at: datetime
    value: float
    ref: str
    anomaly: str | None = None


@dataclass(frozen=True)
class Limit:
    """The line the series must stay under, with the words drawn beside it."""

    value: float
    label: str


@dataclass(frozen=True)
class TrendChart:
    """`chart` is the picture's name (restore-time, backup-sizes, storage), `subject` the app
    or the estate, `kind` the unit family of the values (seconds, bytes); `note` is said
    under the title when something is not drawn (no quota configured)."""

    chart: str
    subject: str
    title: str
    kind: str
    start: datetime
    end: datetime
    points: tuple[TrendPoint, ...]
    limit: Limit | None = None
    forecast: ForecastLine | None = None
    note: str | None = None
    empty: str = "nothing to draw in this window"
