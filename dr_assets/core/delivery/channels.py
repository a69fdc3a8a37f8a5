"""The channels alerts are delivered through (their settings are read with the rest of
dr.toml, in policy: [[alerts.channels]]), and the routing rule: a channel takes an alert
when its severities and apps admit it (an empty list admits every one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dr_assets.core.policy import (
    CHANNEL_KINDS,
    CHANNEL_SEVERITIES,
    ChannelConfig,
    SmtpSettings,
)

__all__ = ["CHANNEL_KINDS", "CHANNEL_SEVERITIES", "ChannelConfig", "SmtpSettings", "routed"]


def routed(channels: Sequence[ChannelConfig], alert: Mapping[str, Any],
           skip: str | None = None) -> list[ChannelConfig]:
    """The channels an alert goes to; `skip` leaves out a channel (a failing channel's own
    alert is sent through the others only)."""
    return [c for c in channels if c.name != skip and c.takes(alert)]
