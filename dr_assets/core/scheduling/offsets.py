"""Each app's backup starts at a stable offset after its window closes: `start_offset_minutes`
when dr.toml sets it, else one drawn from a hash of the app's name, so the apps of one
cadence spread over the window instead of all starting at minute 0.

A drawn offset falls in the first half of the window (SPREAD): the backup of a window starts
inside the next one, which it covers for the compliance report and the RPO, and the other
half is the margin for a queue before that window would count as missed."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from dr_assets.core.policy import AppPolicy


def hashed_offset_minutes(app: str, window_minutes: int) -> int:
    """A minute in [0, window_minutes) that depends on the name only (not on the process,
    as Python's hash() would): the same app starts at the same minute on every host."""
    digest = hashlib.sha256(app.encode()).digest()
    return int.from_bytes(digest[:8], "big") % window_minutes


SPREAD = 0.5  # the share of the window that drawn offsets spread over


def start_offset(policy: AppPolicy) -> timedelta:
    if policy.start_offset_minutes is not None:
        return timedelta(minutes=policy.start_offset_minutes)
    spread = max(1, int(policy.every_hours * 60 * SPREAD))
    return timedelta(minutes=hashed_offset_minutes(policy.name, spread))
