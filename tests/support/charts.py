"""The trend charts in a rendered page (Chromium's DOM, HTML not XML): each <svg
data-chart> with its attributes and the data-* of the points plotted inside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser


@dataclass
class DrawnChart:
    attrs: dict[str, str]
    points: list[dict[str, str]] = field(default_factory=list)  # dots and anomaly marks
    line: dict[str, str] = field(default_factory=dict)
    title: str = ""

    @property
    def values(self) -> list[tuple[datetime, float]]:
        """(when, value) of every point the line joins, in the order drawn."""
        if not self.line:
            return []
        return [(datetime.fromisoformat(t), float(v)) for t, v in zip(
            self.line["data-times"].split(), self.line["data-values"].split(), strict=True)]


class _Charts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.charts: list[DrawnChart] = []
        self._open: DrawnChart | None = None
        self._depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "svg" and "data-chart" in a:
            self._open = DrawnChart(a)
            self.charts.append(self._open)
            self._depth = 0
        elif self._open is not None:
            self._depth += tag == "svg"
            if "data-value" in a:
                self._open.points.append(a)
            if tag == "polyline" and "data-values" in a:
                self._open.line = a
            self._in_title = tag == "title" and not self._open.title

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and tag == "svg":
            if self._depth == 0:
                self._open = None
            self._depth -= 1
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._open is not None and self._in_title:
            self._open.title += data


def drawn_charts(dom: str) -> dict[tuple[str, str], DrawnChart]:
    """Charts keyed by (data-chart, data-subject)."""
    parser = _Charts()
    parser.feed(dom)
    return {(c.attrs["data-chart"], c.attrs["data-subject"]): c for c in parser.charts}
