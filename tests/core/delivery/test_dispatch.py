"""Delivery for real: a catalog of the test's own, HTTP receivers on 127.0.0.1 and an SMTP
server with STARTTLS and AUTH. The exact bodies arrive, failures are retried with backoff
and recorded, a hanging receiver times out, routing follows severity and app, and a channel
that keeps failing raises its own alert through the others."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dr_assets.core.catalog import Catalog
from dr_assets.core.delivery.dispatch import MAX_ATTEMPTS, dispatch_due, failing_kind, retry_delay
from dr_assets.core.errors import ConfigError
from dr_assets.core.policy import ChannelConfig, DRConfig, SmtpSettings, load_config
from tests.core.test_policy import GOOD
from tests.support.pg import PG_URL
from tests.support.receivers import HANG, Receiver, smtp_server

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def catalog(catalog_db: str) -> Catalog:
    cat = Catalog(f"{PG_URL}/{catalog_db}")
    cat.ensure()
    return cat


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DRConfig:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://x@127.0.0.1/x")
    path = tmp_path / "dr.toml"
    path.write_text(GOOD)
    return load_config(path)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


def _receiver(made: list[Receiver], script: list[int] | None = None) -> Receiver:
    r = Receiver(script)
    made.append(r)
    return r


def test_every_http_kind_gets_its_exact_body(catalog: Catalog, base: DRConfig,
                                             receivers: list[Receiver],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_KEY", "pd-routing-key")
    hook, pd, slack, teams = (_receiver(receivers) for _ in range(4))
    cfg = replace(base, channels=(
        ChannelConfig("hook", "webhook", url=hook.url),
        ChannelConfig("pd", "pagerduty", url=pd.url, routing_key_env="PD_KEY"),
        ChannelConfig("slack", "slack", url=slack.url),
        ChannelConfig("teams", "teams", url=teams.url)))
    alert_id = catalog.open_alert("billing", "rpo_violated", "critical", "billing: RPO violated")
    assert alert_id is not None
    done = dispatch_due(cfg, catalog, T0)
    assert (done.routed, done.delivered, done.failed) == (4, 4, [])
    (body,) = hook.received
    assert body["text"] == ":rotating_light: [critical] billing: RPO violated (opened)"
    assert body["event"] == "opened" and body["alert"]["id"] == alert_id
    assert set(body["alert"]) == {"id", "app", "kind", "severity", "status", "message",
                                  "opened_at", "resolved_at", "acknowledged_at",
                                  "acknowledged_by", "delivered_at", "delivery_error"}
    (page,) = pd.received
    assert page["routing_key"] == "pd-routing-key" and page["event_action"] == "trigger"
    assert page["dedup_key"] == "pg-dr-control/billing/rpo_violated"
    assert page["payload"]["severity"] == "critical"
    assert page["payload"]["timestamp"] == T0.isoformat()
    assert page["payload"]["component"] == "billing"
    assert slack.received[0]["blocks"][0]["text"]["text"] == "Alert opened: rpo_violated"
    assert teams.received[0]["attachments"][0]["content"]["version"] == "1.4"
    assert catalog.list_alerts(active=True)[0].delivered_at is not None

    catalog.resolve_alert(alert_id)
    dispatch_due(cfg, catalog, T0 + timedelta(minutes=1))
    assert hook.received[1]["event"] == "resolved"
    assert pd.received[1] == {"routing_key": "pd-routing-key", "event_action": "resolve",
                              "dedup_key": "pg-dr-control/billing/rpo_violated"}
    events = [(d.channel, d.event, d.ok) for d in catalog.alert_deliveries(alert_id)]
    assert sorted(events) == sorted([(c, e, True) for c in ("hook", "pd", "slack", "teams")
                                     for e in ("opened", "resolved")])


def test_a_500_is_retried_with_backoff_and_every_attempt_recorded(
        catalog: Catalog, base: DRConfig, receivers: list[Receiver]) -> None:
    flaky = _receiver(receivers, [500, 200])
    cfg = replace(base, channels=(ChannelConfig("flaky", "webhook", url=flaky.url),))
    alert_id = catalog.open_alert("billing", "backup_failed", "warning", "billing: failed")
    assert alert_id is not None
    first = dispatch_due(cfg, catalog, T0)
    assert first.delivered == 0 and "HTTP 500" in first.failed[0]
    assert "secret-token" not in first.failed[0]
    assert dispatch_due(cfg, catalog, T0 + retry_delay(1) - timedelta(seconds=1)).delivered == 0
    assert dispatch_due(cfg, catalog, T0 + retry_delay(1)).delivered == 1
    attempts = catalog.alert_deliveries(alert_id)
    assert [(a.ok, a.status_code) for a in attempts] == [(False, 500), (True, 200)]
    assert len(flaky.received) == 2
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 8, 12)] == [
        30, 60, 120, 3600, 3600]


def test_a_hanging_receiver_times_out_and_a_dead_one_gives_up_after_12(
        catalog: Catalog, base: DRConfig, receivers: list[Receiver]) -> None:
    hanging = _receiver(receivers, [HANG])
    cfg = replace(base, channels=(
        ChannelConfig("hanging", "webhook", url=hanging.url, timeout_seconds=0.5),
        ChannelConfig("dead", "slack", url="http://127.0.0.1:9/nobody")))
    alert_id = catalog.open_alert("billing", "backup_failed", "warning", "billing: failed")
    assert alert_id is not None
    done = dispatch_due(cfg, catalog, T0)
    (hung,) = [a for a in catalog.alert_deliveries(alert_id) if a.channel == "hanging"]
    assert not hung.ok and "timed out" in (hung.error or "") and hung.duration_ms < 2000
    assert len(done.failed) == 2
    at = T0
    for n in range(1, MAX_ATTEMPTS + 2):
        at += retry_delay(n)
        dispatch_due(cfg, catalog, at)
    dead = [a for a in catalog.alert_deliveries(alert_id) if a.channel == "dead"]
    assert len(dead) == MAX_ATTEMPTS and not any(a.ok for a in dead)
    assert "ConnectionRefusedError" in (dead[0].error or "")
    # hanging answered its second try: delivered
    assert [a.ok for a in catalog.alert_deliveries(alert_id) if a.channel == "hanging"] == [
        False, True]


def test_routing_by_severity_and_app(catalog: Catalog, base: DRConfig,
                                     receivers: list[Receiver]) -> None:
    pages, billing, everything = (_receiver(receivers) for _ in range(3))
    cfg = replace(base, channels=(
        ChannelConfig("pages", "webhook", url=pages.url, severities=("critical",)),
        ChannelConfig("billing", "webhook", url=billing.url, apps=("billing",)),
        ChannelConfig("all", "webhook", url=everything.url)))
    catalog.open_alert("billing", "backup_failed", "warning", "billing: failed")
    catalog.open_alert("orders", "health_low", "critical", "orders: low")
    dispatch_due(cfg, catalog, T0)
    assert [b["alert"]["app"] for b in pages.received] == ["orders"]
    assert [b["alert"]["app"] for b in billing.received] == ["billing"]
    assert sorted(b["alert"]["app"] for b in everything.received) == ["billing", "orders"]


def test_a_failing_channel_is_alerted_through_the_others_and_resolves(
        catalog: Catalog, base: DRConfig, receivers: list[Receiver]) -> None:
    broken = _receiver(receivers, [503, 503, 503])
    other = _receiver(receivers)
    cfg = replace(base, channels=(ChannelConfig("broken", "webhook", url=broken.url),
                                  ChannelConfig("other", "webhook", url=other.url)))
    for n in range(3):
        catalog.open_alert("billing", f"run_failed:job{n}", "critical", f"job{n} failed")
    dispatch_due(cfg, catalog, T0)
    kinds = [b["alert"]["kind"] for b in other.received]
    assert failing_kind("broken") in kinds
    assert all(b["alert"]["kind"] != failing_kind("broken") for b in broken.received)
    (open_failing,) = [a for a in catalog.open_alerts() if a.kind == failing_kind("broken")]
    # the channel recovers: its backlog goes out and its alert is resolved (told to the others)
    dispatch_due(cfg, catalog, T0 + retry_delay(1))
    assert not [a for a in catalog.open_alerts() if a.kind == failing_kind("broken")]
    assert sorted(b["alert"]["kind"] for b in broken.received[3:]) == [
        "run_failed:job0", "run_failed:job1", "run_failed:job2"]
    resolved = [b for b in other.received if b["alert"]["id"] == open_failing.id]
    assert [b["event"] for b in resolved] == ["opened", "resolved"]


def test_email_over_starttls_with_login(catalog: Catalog, base: DRConfig, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_server(tmp_path, "dr", "s3cret") as (port, cert, messages):
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        smtp = SmtpSettings(host="127.0.0.1", port=port, starttls=True, username="dr",
                            password_env="DR_SMTP_PASSWORD", sender="dr@example.com",
                            to=("oncall@example.com",))
        cfg = replace(base, channels=(ChannelConfig("mail", "email", smtp=smtp,
                                                    timeout_seconds=3),))
        alert_id = catalog.open_alert("billing", "rpo_violated", "critical", "billing: RPO")
        assert alert_id is not None
        # the password's variable is empty at send time: a recorded failure, retried later
        done = dispatch_due(cfg, catalog, T0)
        assert "DR_SMTP_PASSWORD" in done.failed[0] and not messages
        monkeypatch.setenv("DR_SMTP_PASSWORD", "wrong")
        assert dispatch_due(cfg, catalog, T0 + retry_delay(1)).delivered == 0
        monkeypatch.setenv("DR_SMTP_PASSWORD", "s3cret")
        assert dispatch_due(cfg, catalog, T0 + retry_delay(1) + retry_delay(2)).delivered == 1
        catalog.resolve_alert(alert_id)
        dispatch_due(cfg, catalog, T0 + timedelta(hours=1))
        assert [m["Subject"] for m in messages] == [
            "[DR critical] opened: billing rpo_violated",
            "[DR critical] resolved: billing rpo_violated"]
        assert messages[0]["To"] == "oncall@example.com"
        assert "alert id: " in messages[0].get_payload()
        attempts = catalog.alert_deliveries(alert_id)
        assert [a.ok for a in attempts] == [False, False, True, True]
        # a refused login is a failure recorded with the relay named (aiosmtpd, after the
        # refused PLAIN, stalls smtplib's LOGIN fallback: the bounded timeout ends it)
        assert (attempts[1].error or "").startswith(f"127.0.0.1:{port}: SMTP")


def test_an_email_digest_gathers_every_event_into_one_message(
        catalog: Catalog, base: DRConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """digest_minutes: the events wait until the oldest has waited that long, then go as one
    message (an attempt recorded for each); nothing is sent before."""
    with smtp_server(tmp_path, "dr", "s3cret") as (port, cert, messages):
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        monkeypatch.setenv("DR_SMTP_PASSWORD", "s3cret")
        smtp = SmtpSettings(host="127.0.0.1", port=port, starttls=True, username="dr",
                            password_env="DR_SMTP_PASSWORD", sender="dr@example.com",
                            to=("oncall@example.com",), digest_minutes=15)
        cfg = replace(base, channels=(ChannelConfig("digest", "email", smtp=smtp,
                                                    timeout_seconds=3),))
        now = datetime.now(UTC)
        ids = [catalog.open_alert(app, "rpo_violated", "critical", f"{app}: RPO")
               for app in ("billing", "ledger", "search")]
        assert all(i is not None for i in ids)
        catalog.resolve_alert(ids[0])  # type: ignore[arg-type]
        early = dispatch_due(cfg, catalog, now + timedelta(minutes=5))
        assert early.delivered == 0 and not messages
        assert dispatch_due(cfg, catalog, now + timedelta(minutes=10)).delivered == 0
        done = dispatch_due(cfg, catalog, now + timedelta(minutes=16))
        assert done.delivered == 4 and len(messages) == 1
        assert messages[0]["Subject"] == "[DR digest] 4 alert events: 3 opened, 1 resolved"
        body = messages[0].get_payload()
        assert all(f"{app}: RPO" in body for app in ("billing", "ledger", "search"))
        assert body.index("(opened)") < body.index("(resolved)")
        assert [a.ok for a in catalog.alert_deliveries(ids[0])] == [True, True]  # type: ignore[arg-type]
        assert dispatch_due(cfg, catalog, now + timedelta(hours=2)).delivered == 0


@pytest.mark.parametrize("value", [-1, 1441])
def test_digest_minutes_are_checked_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            value: int) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://x@127.0.0.1/x")
    path = tmp_path / "dr.toml"
    path.write_text(GOOD + f'[[alerts.channels]]\nname = "mail"\nkind = "email"\n'
                           f'host = "smtp.example.com"\nfrom = "dr@example.com"\n'
                           f'to = ["oncall@example.com"]\ndigest_minutes = {value}\n')
    with pytest.raises(ConfigError, match="digest_minutes"):
        load_config(path)
