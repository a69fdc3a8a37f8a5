"""The backup timeline as SVG: a row per app, a stacked bar per day (succeeded, failed)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from dr_assets.core.health.timeline import AppTimeline

WIDTH = 1000
LABEL_W = 190
ROW_H = 64
TOP = 8
AXIS_H = 26
OK_COLOUR, FAILED_COLOUR, EMPTY_COLOUR = "#2e7d32", "#c62828", "#e4e8ee"


def render_timeline_svg(timelines: Sequence[AppTimeline]) -> str:
    days = len(timelines[0].days) if timelines else 0
    height = TOP + max(len(timelines), 1) * ROW_H + AXIS_H
    step = (WIDTH - LABEL_W - 10) / max(days, 1)
    peak = max((d.succeeded + d.failed for t in timelines for d in t.days), default=0) or 1
    total_ok = sum(t.succeeded for t in timelines)
    total_failed = sum(t.failed for t in timelines)
    label = (f"Backups per day over the last {days} days: {total_ok} succeeded, "
             f"{total_failed} failed")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
           f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(label)}" '
           'font-family="system-ui, sans-serif">', f"<title>{escape(label)}</title>"]
    if not timelines:
        out.append(f'<text x="10" y="{TOP + 30}" font-size="14" fill="#555">no apps configured'
                   "</text>")
    for row, t in enumerate(timelines):
        y0 = TOP + row * ROW_H
        base = y0 + ROW_H - 12
        out.append(f'<text x="4" y="{y0 + 24}" font-size="14" font-weight="600" fill="#1c2430">'
                   f"{escape(t.app)}</text>")
        out.append(f'<text x="4" y="{y0 + 42}" font-size="12" fill="#4a5868">{t.succeeded} ok'
                   f" &#183; {t.failed} failed</text>")
        for i, d in enumerate(t.days):
            x = LABEL_W + i * step
            w = max(step - 2, 1)
            tip = f"{t.app} {d.day}: {d.succeeded} succeeded, {d.failed} failed"
            out.append(f"<g><title>{escape(tip)}</title>")
            if not d.succeeded and not d.failed:
                out.append(f'<rect x="{x:.1f}" y="{base - 2}" width="{w:.1f}" height="2" '
                           f'fill="{EMPTY_COLOUR}"/>')
            ok_h = (ROW_H - 20) * d.succeeded / peak
            bad_h = (ROW_H - 20) * d.failed / peak
            if d.succeeded:
                out.append(f'<rect x="{x:.1f}" y="{base - ok_h:.1f}" width="{w:.1f}" '
                           f'height="{ok_h:.1f}" fill="{OK_COLOUR}"/>')
            if d.failed:
                out.append(f'<rect x="{x:.1f}" y="{base - ok_h - bad_h:.1f}" width="{w:.1f}" '
                           f'height="{bad_h:.1f}" fill="{FAILED_COLOUR}"/>')
            out.append("</g>")
    if timelines:
        axis_y = TOP + len(timelines) * ROW_H + 16
        first = timelines[0].days
        for i in sorted({0, days // 2, days - 1}):
            anchor = "start" if i == 0 else ("end" if i == days - 1 else "middle")
            x = LABEL_W + i * step + (step if anchor == "end" else step / 2 if anchor == "middle"
                                      else 0)
            out.append(f'<text x="{x:.1f}" y="{axis_y}" font-size="12" fill="#4a5868" '
                       f'text-anchor="{anchor}">{first[i].day:%d %b}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
