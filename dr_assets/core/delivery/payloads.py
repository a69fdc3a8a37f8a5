"""The exact body each channel is sent for an alert opened or resolved. The generic
webhook's body is a contract receivers parse: it stays as it always was."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

OPENED, RESOLVED = "opened", "resolved"
SOURCE = "pg-dr-control"


def _plain(alert: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in alert.items()}


def headline(alert: Mapping[str, Any], event: str) -> str:
    return f"[{alert['severity']}] {alert['message']} ({event})"


def webhook_body(alert: Mapping[str, Any], event: str) -> dict[str, Any]:
    """The generic webhook's JSON, with a Slack-compatible `text`."""
    icon = ":rotating_light:" if event == OPENED else ":white_check_mark:"
    return {"text": f"{icon} {headline(alert, event)}", "event": event, "alert": _plain(alert)}


def dedup_key(alert: Mapping[str, Any]) -> str:
    """One PagerDuty incident per (app, kind): a resolve closes the incident its open made."""
    return f"{SOURCE}/{alert['app']}/{alert['kind']}"


def pagerduty_body(alert: Mapping[str, Any], event: str, routing_key: str,
                   at: datetime) -> dict[str, Any]:
    """An Events API v2 event: trigger on open, resolve on resolution."""
    if event == RESOLVED:
        return {"routing_key": routing_key, "event_action": "resolve",
                "dedup_key": dedup_key(alert)}
    severity = alert["severity"] if alert["severity"] in (
        "critical", "error", "warning", "info") else "error"
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(alert),
        "payload": {
            "summary": str(alert["message"])[:1024],
            "source": SOURCE,
            "severity": severity,
            "timestamp": at.isoformat(),
            "component": str(alert["app"]),
            "custom_details": _plain(alert),
        },
    }


def slack_body(alert: Mapping[str, Any], event: str) -> dict[str, Any]:
    """Block Kit for an incoming webhook: `text` is the notification's fallback."""
    icon = ":rotating_light:" if event == OPENED else ":white_check_mark:"
    text = f"{icon} {headline(alert, event)}"
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text",
                                        "text": f"Alert {event}: {alert['kind']}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text":
                f"app *{alert['app']}* · severity *{alert['severity']}* · alert {alert['id']}"}]},
        ],
    }


def teams_body(alert: Mapping[str, Any], event: str) -> dict[str, Any]:
    """An Adaptive Card 1.4 in the message envelope a Teams workflow webhook takes."""
    return {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "size": "Medium", "weight": "Bolder",
                     "text": f"Alert {event}: {alert['kind']}"},
                    {"type": "TextBlock", "wrap": True, "text": headline(alert, event)},
                    {"type": "FactSet", "facts": [
                        {"title": "App", "value": str(alert["app"])},
                        {"title": "Severity", "value": str(alert["severity"])},
                        {"title": "Alert", "value": str(alert["id"])},
                    ]},
                ],
            },
        }],
    }


@dataclass(frozen=True)
class EmailMessage:
    subject: str
    body: str


def email_digest(events: Sequence[tuple[Mapping[str, Any], str]]) -> EmailMessage:
    """One message for every alert event an email channel with digest_minutes gathered,
    oldest first."""
    opened = sum(1 for _, e in events if e == OPENED)
    subject = (f"[DR digest] {len(events)} alert events: {opened} opened, "
               f"{len(events) - opened} resolved")
    lines = [f"{len(events)} alert events since the last digest:", ""]
    for alert, event in events:
        lines += [headline(alert, event),
                  f"  app: {alert['app']}, kind: {alert['kind']}, alert id: {alert['id']}"]
    return EmailMessage(subject=subject, body="\n".join(lines) + "\n")


def email_message(alert: Mapping[str, Any], event: str) -> EmailMessage:
    """One message per alert opened and per alert resolved, in plain text."""
    subject = f"[DR {alert['severity']}] {event}: {alert['app']} {alert['kind']}"
    lines = [headline(alert, event), "",
             f"app: {alert['app']}", f"kind: {alert['kind']}",
             f"severity: {alert['severity']}", f"alert id: {alert['id']}", f"event: {event}"]
    return EmailMessage(subject=subject, body="\n".join(lines) + "\n")
