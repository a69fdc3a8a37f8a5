"""Sending one payload through one channel: an HTTP POST of JSON (urllib, a bounded
timeout) or an email over SMTP (STARTTLS and login when configured). A send never
raises: it answers what happened, for the attempt's record."""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage as MimeMessage
from typing import Any
from urllib.parse import urlsplit

from dr_assets.core.delivery.payloads import (
    EmailMessage,
    email_digest,
    email_message,
    pagerduty_body,
    slack_body,
    teams_body,
    webhook_body,
)
from dr_assets.core.policy import ChannelConfig, SmtpSettings


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float


def safe_url(url: str) -> str:
    """Webhook URLs often carry a token in the path: show scheme, host and port only."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class MissingSecret(Exception):
    """A variable a channel names holds nothing at send time."""


def _env(name: str, what: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise MissingSecret(f"environment variable {name} ({what}) is empty or not set")
    return value


def body_for(channel: ChannelConfig, alert: dict[str, Any], event: str,
             at: datetime) -> dict[str, Any]:
    """The JSON an HTTP channel is sent."""
    if channel.kind == "pagerduty":
        key = _env(channel.routing_key_env, "the PagerDuty routing key")
        return pagerduty_body(alert, event, key, at)
    if channel.kind == "slack":
        return slack_body(alert, event)
    if channel.kind == "teams":
        return teams_body(alert, event)
    return webhook_body(alert, event)


def send(channel: ChannelConfig, alert: dict[str, Any], event: str, at: datetime) -> SendResult:
    def post() -> int | None:
        if channel.kind == "email":
            assert channel.smtp is not None  # the loader gives every email channel its smtp
            _send_mail(channel.smtp, email_message(alert, event), channel.timeout_seconds)
            return None
        data = json.dumps(body_for(channel, alert, event, at)).encode()
        req = urllib.request.Request(channel.url, data=data, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=channel.timeout_seconds) as resp:  # noqa: S310
            resp.read()
            return int(resp.status)

    return _attempt(channel, post)


def send_digest(channel: ChannelConfig, events: Sequence[tuple[dict[str, Any], str]]
                ) -> SendResult:
    """One email of every event an email channel with digest_minutes gathered."""
    assert channel.smtp is not None

    def post() -> None:
        assert channel.smtp is not None
        _send_mail(channel.smtp, email_digest(events), channel.timeout_seconds)

    return _attempt(channel, post)


def _attempt(channel: ChannelConfig, post: Callable[[], int | None]) -> SendResult:
    """POST's outcome as a SendResult: what it answered, or the failure in words."""
    start = time.monotonic()

    def took() -> float:
        return round((time.monotonic() - start) * 1000, 1)

    try:
        return SendResult(True, post(), None, took())
    except urllib.error.HTTPError as exc:
        return SendResult(False, exc.code, f"{safe_url(channel.url)}: HTTP {exc.code}", took())
    except MissingSecret as exc:
        return SendResult(False, None, str(exc), took())
    except (urllib.error.URLError, OSError, smtplib.SMTPException, ValueError) as exc:
        where = (f"{channel.smtp.host}:{channel.smtp.port}" if channel.smtp
                 else safe_url(channel.url))
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return SendResult(False, None, f"{where}: {type(reason).__name__}: {reason}", took())


def _send_mail(smtp: SmtpSettings, text: EmailMessage, timeout: float) -> None:
    msg = MimeMessage()
    msg["Subject"], msg["From"], msg["To"] = text.subject, smtp.sender, ", ".join(smtp.to)
    msg.set_content(text.body)
    password = _env(smtp.password_env, "the SMTP password") if smtp.password_env else ""
    with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as client:
        if smtp.starttls:
            client.starttls(context=smtp_tls_context())
        if smtp.username:
            client.login(smtp.username, password)
        client.send_message(msg)


def smtp_tls_context() -> ssl.SSLContext:
    """The system's trust store, or SSL_CERT_FILE when set (a private relay's CA)."""
    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None)
