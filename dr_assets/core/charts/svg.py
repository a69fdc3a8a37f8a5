"""A TrendChart as one SVG element: axes with nice ticks, the points joined by a line, the
limit labelled (an arrow at the top when it is far above the data), the forecast dashed,
anomalies marked; role="img" with aria-label, <title> and <desc>, and data-* attributes
carrying every plotted number (on the line, and on each dot while they fit) so a test can
compare the picture with the API."""

from __future__ import annotations

from datetime import datetime
from html import escape

from dr_assets.core.charts.ticks import Unit, day_ticks, unit_for, value_ticks
from dr_assets.core.charts.trend import TrendChart, TrendPoint

WIDTH, HEIGHT = 520, 250
LEFT, RIGHT, TOP, BOTTOM = 66, 14, 46, 28
MAX_DOTS = 120  # more points than this: the line alone, anomaly marks still drawn
LIMIT_HEADROOM = 4.0  # a limit more than 4x the data's top is drawn as an arrow, not to scale
LINE, LIMIT, FORECAST, ANOMALY = "#1d4f91", "#c62828", "#7b5ea7", "#e65100"
GRID, INK = "#e4e8ee", "#4a5868"


def _a(text: str) -> str:
    return escape(text, quote=True)


def _num(v: float) -> str:
    """A plotted value as the API answers it: whole numbers without a fraction."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _when(at: datetime) -> str:
    return at.isoformat()


def describe(c: TrendChart, unit: Unit) -> str:
    """The picture in words, for screen readers and the <desc>."""
    if not c.points:
        said = c.empty
    else:
        last = c.points[-1]
        said = (f"{len(c.points)} points from {c.points[0].at:%Y-%m-%d} to {last.at:%Y-%m-%d}, "
                f"latest {unit.label(last.value)}, highest "
                f"{unit.label(max(p.value for p in c.points))}")
        marked = sum(1 for p in c.points if p.anomaly)
        if marked:
            said += f", {marked} marked as anomalies"
    if c.limit is not None:
        said += (f"; limit {c.limit.label} "
                 f"({unit_for(c.kind, c.limit.value).label(c.limit.value)})")
    f = c.forecast
    if f is not None:
        said += (f"; forecast {unit.label(f.end_value)} by {f.end:%Y-%m-%d}"
                 + (f", crossing the limit on {f.crosses_on}" if f.crosses_on else ""))
    if c.note:
        said += f"; {c.note}"
    return said


def render_trend_svg(c: TrendChart) -> str:
    data_top = max([p.value for p in c.points]
                   + ([c.forecast.end_value, c.forecast.start_value] if c.forecast else []),
                   default=0.0)
    limit_drawn = c.limit is not None and (
        data_top == 0 or c.limit.value <= LIMIT_HEADROOM * data_top)
    top = max(data_top, c.limit.value if c.limit and limit_drawn else 0.0)
    unit = unit_for(c.kind, top or (c.limit.value if c.limit else 1.0))
    ticks = value_ticks(0.0, top or unit.scale, unit)
    y_max = ticks[-1]
    end = max(c.end, c.forecast.end) if c.forecast else c.end
    span = max((end - c.start).total_seconds(), 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + plot_w * (at - c.start).total_seconds() / span

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / y_max)

    desc = describe(c, unit)
    label = f"{c.title}: {desc}"
    attrs = {"data-chart": c.chart, "data-subject": c.subject, "data-kind": c.kind,
             "data-points": str(len(c.points)), "data-start": _when(c.start),
             "data-end": _when(c.end)}
    if c.limit is not None:
        attrs["data-limit"] = _num(c.limit.value)
    if c.forecast is not None:
        attrs["data-forecast-end"] = _when(c.forecast.end)
        attrs["data-forecast-end-value"] = _num(c.forecast.end_value)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{_a(label)}" '
           + " ".join(f'{k}="{_a(v)}"' for k, v in attrs.items())
           + ' font-family="system-ui, sans-serif" font-size="12">',
           f"<title>{_a(c.title)}</title>", f"<desc>{_a(desc)}</desc>",
           f'<text x="4" y="15" font-size="14" font-weight="600" fill="#1c2430">'
           f"{_a(c.title)}</text>"]
    if c.note:
        out.append(f'<text x="4" y="30" font-size="11" fill="{INK}">{_a(c.note)}</text>')
    for v in ticks:
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                   f'stroke="{GRID}"/><text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" '
                   f'fill="{INK}" data-tick="{_num(v)}">{_a(unit.label(v))}</text>')
    for at in day_ticks(c.start, end):
        out.append(f'<text x="{x(at):.1f}" y="{HEIGHT - 10}" text-anchor="middle" fill="{INK}" '
                   f'data-day="{at:%Y-%m-%d}">{at:%d %b}</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="{INK}"/>'
               f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
               f'stroke="{INK}"/>')
    if c.limit is not None:
        out.append(_limit(c, y(c.limit.value) if limit_drawn else None))
    if c.forecast is not None:
        f = c.forecast
        out.append(f'<line class="forecast" x1="{x(f.start):.1f}" y1="{y(f.start_value):.1f}" '
                   f'x2="{x(f.end):.1f}" y2="{y(f.end_value):.1f}" stroke="{FORECAST}" '
                   f'stroke-width="2" stroke-dasharray="6 4"><title>'
                   f'{_a(f"forecast: {unit.label(f.end_value)} by {f.end:%Y-%m-%d}")}</title></line>')
    if not c.points:
        out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{TOP + plot_h / 2:.0f}" '
                   f'text-anchor="middle" font-size="13" fill="{INK}">{_a(c.empty)}</text>')
    else:
        # The line carries every plotted value; a dot with its tooltip per point only while
        # they fit (a year of hourly backups would make megabytes of dots), anomalies always.
        path = " ".join(f"{x(p.at):.1f},{y(p.value):.1f}" for p in c.points)
        out.append(f'<polyline class="series" points="{path}" fill="none" stroke="{LINE}" '
                   f'stroke-width="2" data-times="{" ".join(_when(p.at) for p in c.points)}" '
                   f'data-values="{" ".join(_num(p.value) for p in c.points)}"/>')
        dots = len(c.points) <= MAX_DOTS
        out.append('<g class="points">')
        out.extend(_point(p, x(p.at), y(p.value), unit) for p in c.points if dots or p.anomaly)
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _limit(c: TrendChart, at_y: float | None) -> str:
    assert c.limit is not None
    # In the unit the limit reads best in (RTO 4 h, not 14400 s on a seconds axis).
    words = f"{c.limit.label} {unit_for(c.kind, c.limit.value).label(c.limit.value)}"
    if at_y is None:  # far above the data: say where it is instead of flattening the series
        return (f'<g class="limit" data-limit-drawn="false"><text x="{WIDTH - RIGHT}" '
                f'y="{TOP - 4}" text-anchor="end" fill="{LIMIT}">&#8593; {_a(words)} '
                "(above the chart)</text></g>")
    return (f'<g class="limit" data-limit-drawn="true"><line x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{at_y:.1f}" y2="{at_y:.1f}" stroke="{LIMIT}" stroke-width="1.5"/>'
            f'<text x="{WIDTH - RIGHT}" y="{at_y - 4:.1f}" text-anchor="end" fill="{LIMIT}">'
            f"{_a(words)}</text></g>")


def _point(p: TrendPoint, px: float, py: float, unit: Unit) -> str:
    tip = f"{p.at:%Y-%m-%d %H:%M} {p.ref}: {unit.label(p.value)}"
    data = (f'data-at="{_a(_when(p.at))}" data-value="{_num(p.value)}" data-ref="{_a(p.ref)}"')
    if p.anomaly:
        tip += f" (anomaly: {p.anomaly})"
        return (f'<path class="anomaly" d="M{px:.1f},{py - 7:.1f} L{px + 6:.1f},{py + 4:.1f} '
                f'L{px - 6:.1f},{py + 4:.1f} Z" fill="{ANOMALY}" {data} '
                f'data-anomaly="{_a(p.anomaly)}"><title>{_a(tip)}</title></path>')
    return (f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{LINE}" {data}>'
            f"<title>{_a(tip)}</title></circle>")
