"""A strip of an app's backup windows, one cell each, drawn as inline SVG on the server."""

from __future__ import annotations

from html import escape

from dr_assets.core.compliance.report import BackupWindow
from dr_assets.core.statuses import WindowStatus

WIDTH, HEIGHT = 960, 22
COLOURS = {WindowStatus.COVERED: "#2e7d32", WindowStatus.MISSED: "#c62828"}
PENDING_COLOUR = "#9e9e9e"


def coverage_strip(app: str, windows: tuple[BackupWindow, ...]) -> str:
    covered = sum(1 for w in windows if w.status == WindowStatus.COVERED)
    label = f"{app}: {covered} of {len(windows)} backup windows covered by a verified backup"
    parts = [f'<svg class="strip" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" '
             f'aria-label="{escape(label)}">']
    step = WIDTH / max(len(windows), 1)
    for i, w in enumerate(windows):
        colour = COLOURS.get(w.status, PENDING_COLOUR)
        what = w.backup_id if w.status == WindowStatus.COVERED else (w.note or "no backup")
        title = f"{w.start:%Y-%m-%d %H:%M}: {w.status} ({what})"
        parts.append(f'<rect x="{i * step:.2f}" y="0" width="{max(step - 0.6, 0.4):.2f}" '
                     f'height="{HEIGHT}" fill="{colour}"><title>{escape(title)}</title></rect>')
    if not windows:
        parts.append('<text x="4" y="15" font-size="12" fill="#555">no windows in this period'
                     '</text>')
    parts.append("</svg>")
    return "".join(parts)

