"""Each app's backup starts at a stable offset after its window closes: `start_offset_minutes`
when dr.toml sets it, else one drawn from a hash of the app's name, so the apps of one
cadence spread over the window instead of all starting at minute 0."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from dr_assets.core.policy import AppPolicy


def hashed_offset_minutes(app: str, window_minutes: int) -> int:
    """A minute in [0, window_minutes) that depends on the name only (not on the process,
    as Python's hash() would): the same app starts at the same minute on every host."""
    digest = hashlib.sha256(app.encode()).digest()
    return int.from_bytes(digest[:8], "big") % window_minutes


def start_offset(policy: AppPolicy) -> timedelta:
    if policy.start_offset_minutes is not None:
        return timedelta(minutes=policy.start_offset_minutes)
    return timedelta(minutes=hashed_offset_minutes(policy.name, policy.every_hours * 60))
