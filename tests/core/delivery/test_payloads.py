"""The exact bodies each channel is sent: the generic webhook's contract unchanged,
PagerDuty's Events API v2, Slack's Block Kit, a Teams Adaptive Card, a plain email."""

from __future__ import annotations

from datetime import UTC, datetime

from dr_assets.core.delivery.payloads import (
    email_message,
    pagerduty_body,
    slack_body,
    teams_body,
    webhook_body,
)

ALERT = {"id": 7, "app": "billing", "kind": "rpo_violated", "severity": "critical",
         "message": "billing: RPO of 24 h violated",
         "opened_at": datetime(2026, 12, 3, 12, 0, tzinfo=UTC)}
AT = datetime(2026, 12, 3, 12, 1, tzinfo=UTC)


def test_the_webhook_body_is_the_contract_it_was() -> None:
    assert webhook_body(ALERT, "opened") == {
        "text": ":rotating_light: [critical] billing: RPO of 24 h violated (opened)",
        "event": "opened",
        "alert": {**ALERT, "opened_at": "2026-12-03T12:00:00+00:00"}}
    assert webhook_body(ALERT, "resolved")["text"].startswith(":white_check_mark: ")


def test_pagerduty_triggers_and_resolves_one_incident_per_app_and_kind() -> None:
    opened = pagerduty_body(ALERT, "opened", "KEY", AT)
    assert opened == {
        "routing_key": "KEY", "event_action": "trigger",
        "dedup_key": "pg-dr-control/billing/rpo_violated",
        "payload": {"summary": "billing: RPO of 24 h violated", "source": "pg-dr-control",
                    "severity": "critical", "timestamp": "2026-12-03T12:01:00+00:00",
                    "component": "billing",
                    "custom_details": {**ALERT, "opened_at": "2026-12-03T12:00:00+00:00"}}}
    assert pagerduty_body(ALERT, "resolved", "KEY", AT) == {
        "routing_key": "KEY", "event_action": "resolve",
        "dedup_key": "pg-dr-control/billing/rpo_violated"}


def test_slack_has_a_fallback_text_and_blocks() -> None:
    body = slack_body(ALERT, "opened")
    assert body["text"] == ":rotating_light: [critical] billing: RPO of 24 h violated (opened)"
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "context"]


def test_teams_gets_an_adaptive_card_1_4() -> None:
    body = teams_body(ALERT, "resolved")
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["$schema"], card["type"], card["version"]) == (
        "http://adaptivecards.io/schemas/adaptive-card.json", "AdaptiveCard", "1.4")
    assert card["body"][0]["text"] == "Alert resolved: rpo_violated"


def test_email_says_what_and_where_in_subject_and_body() -> None:
    mail = email_message(ALERT, "opened")
    assert mail.subject == "[DR critical] opened: billing rpo_violated"
    assert mail.body.startswith("[critical] billing: RPO of 24 h violated (opened)\n")
    assert "alert id: 7\n" in mail.body
