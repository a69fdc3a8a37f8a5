"""The trend charts drawn from plain inputs: nice ticks, points scaled into the plot, empty
and one-point series, a limit far above the data, the forecast dashed, anomalies marked,
and names that would break SVG escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from dr_assets.core.charts.svg import HEIGHT, LEFT, MAX_DOTS, RIGHT, TOP, WIDTH, render_trend_svg
from dr_assets.core.charts.ticks import day_ticks, nice_step, unit_for, value_ticks
from dr_assets.core.charts.trend import Limit, TrendChart, TrendPoint
from dr_assets.core.forecasting.line import ForecastLine

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 9, 1, tzinfo=UTC)
END = datetime(2026, 11, 30, 12, tzinfo=UTC)


def chart(points: list[tuple[int, float]], limit: float | None = 3600.0, *,
          subject: str = "shop", anomaly: str | None = None,
          forecast: ForecastLine | None = None, note: str | None = None) -> TrendChart:
    """The first point carries `anomaly`."""
    return TrendChart(
        "restore-time", subject, f"{subject}: drill restore time", "seconds", START, END,
        tuple(TrendPoint(START + timedelta(days=d), v, f"drill {i}", anomaly if i == 0 else None)
              for i, (d, v) in enumerate(points)),
        Limit(limit, "RTO") if limit is not None else None, forecast, note)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def drawn_points(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if "data-value" in e.attrib]


@pytest.mark.parametrize(("span", "step"), [(10, 2), (7, 2), (100, 20), (0.3, 0.1),
                                             (1234, 500), (1, 0.2), (50, 10)])
def test_nice_steps_are_one_two_five(span: float, step: float) -> None:
    assert nice_step(span) == pytest.approx(step)


def test_value_ticks_cover_the_range_in_the_unit_that_reads_best() -> None:
    gib = unit_for("bytes", 5.3 * 2**30)
    assert gib.name == "GiB"
    ticks = value_ticks(0, 5.3 * 2**30, gib)
    assert [t / 2**30 for t in ticks] == [0, 2, 4, 6]
    assert unit_for("seconds", 90).name == "s" and unit_for("seconds", 4 * 3600).name == "h"
    assert unit_for("seconds", 600).name == "min" and unit_for("bytes", 100).name == "B"
    assert gib.label(3 * 2**30) == "3 GiB" and gib.label(1.5 * 2**30) == "1.5 GiB"
    assert value_ticks(0, 0, unit_for("seconds", 0)) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_day_ticks_are_midnights_a_few_labels_apart() -> None:
    ticks = day_ticks(START + timedelta(hours=5), END)
    assert all(t.hour == 0 and t.minute == 0 for t in ticks)
    assert ticks[0] == datetime(2026, 9, 2, tzinfo=UTC) and len(ticks) <= 7
    assert len({b - a for a, b in pairwise(ticks)}) == 1
    assert len(day_ticks(END - timedelta(days=2), END)) == 2  # short window: every day


def test_points_are_scaled_into_the_plot_and_carry_their_values() -> None:
    root = parse(render_trend_svg(chart([(0, 600.0), (45, 1200.0), (90, 1800.0)])))
    circles = drawn_points(root)
    assert [float(c.attrib["data-value"]) for c in circles] == [600.0, 1200.0, 1800.0]
    assert [c.attrib["data-ref"] for c in circles] == ["drill 0", "drill 1", "drill 2"]
    xs = [float(c.attrib["cx"]) for c in circles]
    ys = [float(c.attrib["cy"]) for c in circles]
    assert LEFT <= xs[0] < xs[1] < xs[2] <= WIDTH - RIGHT
    assert TOP <= ys[2] < ys[1] < ys[0] <= HEIGHT
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.2)  # time is linear
    assert root.attrib["data-limit"] == "3600" and root.attrib["data-points"] == "3"
    limit = next(g for g in root.iter(f"{SVG}g") if g.attrib.get("class") == "limit")
    assert limit.attrib["data-limit-drawn"] == "true"
    line = limit.find(f"{SVG}line")
    assert line is not None and float(line.attrib["y1"]) < min(ys)  # the RTO is above
    assert "RTO 60 min" in "".join(limit.itertext())
    ticks = [float(t.attrib["data-tick"]) for t in root.iter(f"{SVG}text") if "data-tick" in t.attrib]
    assert ticks[0] == 0 and ticks[-1] >= 3600


def test_an_empty_series_says_so_and_still_draws_axes_and_limit() -> None:
    root = parse(render_trend_svg(chart([])))
    assert not drawn_points(root) and root.find(f"{SVG}polyline") is None
    text = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "nothing to draw in this window" in text and "RTO" in text
    assert root.attrib["data-points"] == "0"
    assert "nothing to draw" in (root.findtext(f"{SVG}desc") or "")


def test_one_point_is_drawn() -> None:
    root = parse(render_trend_svg(chart([(10, 30.0)], limit=None)))
    [p] = drawn_points(root)
    assert p.attrib["data-value"] == "30" and "data-limit" not in root.attrib
    assert root.find(f"{SVG}polyline") is not None


def test_a_limit_far_above_the_data_is_an_arrow_not_a_flattened_series() -> None:
    root = parse(render_trend_svg(chart([(0, 20.0), (30, 40.0)], limit=4 * 3600.0)))
    limit = next(g for g in root.iter(f"{SVG}g") if g.attrib.get("class") == "limit")
    assert limit.attrib["data-limit-drawn"] == "false" and limit.find(f"{SVG}line") is None
    assert "above the chart" in "".join(limit.itertext())
    ys = [float(p.attrib["cy"]) for p in drawn_points(root)]
    assert max(ys) - min(ys) > 50  # the series keeps its own scale
    assert root.attrib["data-limit"] == "14400"


def test_forecast_is_dashed_and_extends_the_time_axis() -> None:
    forecast = ForecastLine("restore_seconds", START, 600.0, END + timedelta(days=30), 4000.0,
                            2000.0, 15.0, 3, 3600.0, date(2026, 12, 20))
    root = parse(render_trend_svg(chart([(0, 600.0), (90, 1800.0)], forecast=forecast)))
    line = next(e for e in root.iter(f"{SVG}line") if e.attrib.get("class") == "forecast")
    assert line.attrib["stroke-dasharray"] and float(line.attrib["x2"]) == pytest.approx(WIDTH - RIGHT)
    assert root.attrib["data-forecast-end-value"] == "4000"
    assert "crossing the limit on 2026-12-20" in (root.findtext(f"{SVG}desc") or "")


def test_anomalies_are_marked_with_what_was_found() -> None:
    root = parse(render_trend_svg(chart([(0, 10.0), (5, 12.0)], anomaly="size_dropped")))
    marks = [e for e in root.iter(f"{SVG}path") if e.attrib.get("class") == "anomaly"]
    assert len(marks) == 1 and marks[0].attrib["data-anomaly"] == "size_dropped"
    assert marks[0].attrib["data-value"] == "10"
    assert "1 marked as anomalies" in root.attrib["aria-label"]


def test_names_are_escaped_in_text_and_attributes() -> None:
    evil = 'a<b>&"c\'</svg><script>alert(1)</script>'
    c = chart([(0, 1.0)], subject=evil, note=f"note {evil}")
    c = TrendChart(c.chart, c.subject, c.title, c.kind, c.start, c.end,
                   (TrendPoint(START, 1.0, evil, evil),), c.limit, None, c.note)
    svg = render_trend_svg(c)
    root = parse(svg)  # well-formed XML
    assert root.attrib["data-subject"] == evil and evil in root.attrib["aria-label"]
    assert root.findtext(f"{SVG}title") == f"{evil}: drill restore time"
    assert "<script>" not in svg and not list(root.iter(f"{SVG}script"))
    [p] = drawn_points(root)
    assert p.attrib["data-ref"] == evil and p.attrib["data-anomaly"] == evil


def test_the_picture_is_labelled_for_screen_readers() -> None:
    root = parse(render_trend_svg(chart([(0, 600.0), (90, 1800.0)], note="a note")))
    assert root.attrib["role"] == "img"
    assert root.attrib["aria-label"].startswith("shop: drill restore time: 2 points")
    assert root.findtext(f"{SVG}title") == "shop: drill restore time"
    desc = root.findtext(f"{SVG}desc") or ""
    assert "latest 30 min" in desc and "limit RTO (60 min)" in desc and "a note" in desc


def test_many_points_are_a_line_carrying_every_value_with_anomalies_still_marked() -> None:
    many = [(d % 90, float(1000 + d)) for d in range(MAX_DOTS + 80)]
    root = parse(render_trend_svg(chart(many, anomaly="table_vanished")))
    line = root.find(f"{SVG}polyline")
    assert line is not None
    assert [float(v) for v in line.attrib["data-values"].split()] == [v for _, v in many]
    assert len(line.attrib["data-times"].split()) == len(many)
    [mark] = drawn_points(root)  # no dots, the one anomaly
    assert mark.attrib["data-anomaly"] == "table_vanished"
    assert root.attrib["data-points"] == str(len(many))
