"""The dispatcher: routes new alert events to their channels, sends every due outbox row,
records each attempt and retries failures with exponential backoff. A channel that fails
FAILING_AFTER times in a row raises its own alert through the other channels, resolved
once it delivers again. Called every tick of the alert sensor; nothing is lost while a
channel is down, delivery resumes when it is back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dr_assets.core.catalog import Catalog
from dr_assets.core.catalog.outbox import OutboxEntry
from dr_assets.core.catalog.rows import AlertRow
from dr_assets.core.delivery.channels import routed
from dr_assets.core.delivery.senders import SendResult, send, send_digest
from dr_assets.core.policy import ChannelConfig, DRConfig

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
MAX_ATTEMPTS = 12
FAILING_AFTER = 3
DELIVERY_FAILING = "delivery_failing"
GLOBAL = "*"


def retry_delay(attempts: int) -> timedelta:
    """30 s after the first failure, doubling, at most an hour."""
    delay: timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(delay, MAX_RETRY)


def failing_kind(channel: str) -> str:
    return f"{DELIVERY_FAILING}:{channel}"


@dataclass
class Dispatched:
    routed: int = 0
    delivered: int = 0
    failed: list[str] = field(default_factory=list)
    gave_up: int = 0


def channels_for(channels: tuple[ChannelConfig, ...], alert: AlertRow) -> list[str]:
    """The channel names an alert is routed to; a failing channel's alert skips it."""
    skip = alert.kind.removeprefix(f"{DELIVERY_FAILING}:") if alert.kind.startswith(
        f"{DELIVERY_FAILING}:") else None
    return [c.name for c in routed(channels, alert.to_dict(), skip=skip)]


def dispatch_due(config: DRConfig, catalog: Catalog, now: datetime, rounds: int = 3) -> Dispatched:
    """Send what is due by `now`. A failing channel's own alert, opened during this call,
    is routed and sent in a following round of the same call."""
    out = Dispatched()
    by_name = {c.name: c for c in config.channels}
    for _ in range(rounds):
        out.routed += catalog.route_outbox(lambda a: channels_for(config.channels, a), now)
        due = catalog.claim_due(now)
        if not due:
            break
        touched: set[str] = set()
        gathered: dict[str, list[OutboxEntry]] = {}
        for entry in due:
            channel = by_name.get(entry.channel or "")
            if channel is not None and channel.smtp is not None and channel.smtp.digest_minutes:
                gathered.setdefault(channel.name, []).append(entry)
                continue
            if channel is None:  # removed from dr.toml since it was routed
                catalog.record_attempt(entry, now, False, None,
                                       f"channel {entry.channel} is no longer configured", 0.0,
                                       None)
                out.gave_up += 1
                continue
            result = send(channel, entry.alert.to_dict(), entry.event, now)
            _record(catalog, entry, now, result, out, channel.name)
            touched.add(channel.name)
        for name, entries in gathered.items():
            if _send_digest(catalog, by_name[name], entries, now, out):
                touched.add(name)
        for name in touched:
            _watch_channel(catalog, name)
    return out


def _record(catalog: Catalog, entry: OutboxEntry, now: datetime, result: SendResult,
            out: Dispatched, channel: str) -> None:
    """One attempt of ENTRY: delivered, due again after the backoff, or given up."""
    attempts = entry.attempts + 1
    retry = now + retry_delay(attempts) if not result.ok and attempts < MAX_ATTEMPTS else None
    catalog.record_attempt(entry, now, result.ok, result.status_code, result.error,
                           result.duration_ms, retry)
    if result.ok:
        out.delivered += 1
    else:
        out.failed.append(f"{channel}: {result.error}")
        if retry is None:
            out.gave_up += 1


def _send_digest(catalog: Catalog, channel: ChannelConfig, entries: list[OutboxEntry],
                 now: datetime, out: Dispatched) -> bool:
    """The events an email channel with digest_minutes gathered, as one message once the
    oldest has waited that long (else they wait, due again then); whether it was sent."""
    assert channel.smtp is not None
    oldest = min(e.created_at or now for e in entries)
    send_at = oldest + timedelta(minutes=channel.smtp.digest_minutes)
    if send_at > now:
        catalog.defer([e.id for e in entries], send_at)
        return False
    events = sorted(entries, key=lambda e: (e.created_at or now, e.id))
    result = send_digest(channel, [(e.alert.to_dict(), e.event) for e in events])
    for entry in events:
        _record(catalog, entry, now, result, out, channel.name)
    return True


def _watch_channel(catalog: Catalog, name: str) -> None:
    results = catalog.recent_results(name, FAILING_AFTER)
    kind = failing_kind(name)
    if results and results[0]:
        for row in catalog.open_alerts():
            if row.kind == kind:
                catalog.resolve_alert(row.id)
    elif len(results) == FAILING_AFTER and not any(results):
        catalog.open_alert(GLOBAL, kind, "critical",
                           f"alert channel {name} failed {FAILING_AFTER} deliveries in a row: "
                           "its alerts are retried until it delivers again (runbook D7)")
