"""[[alerts.channels]] in dr.toml: every kind loads, routing by severity and app, and a
channel that could never send fails the load naming its key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr_assets.core.delivery.channels import routed
from dr_assets.core.errors import ConfigError
from dr_assets.core.policy import DRConfig, load_config
from tests.core.test_policy import GOOD

CHANNELS = """
[[alerts.channels]]
name = "pager"
kind = "pagerduty"
routing_key_env = "PD_KEY"
severities = ["critical"]
[[alerts.channels]]
name = "mail"
kind = "email"
host = "smtp.example.com"
port = 2525
username = "dr"
password_env = "SMTP_PASSWORD"
from = "dr@example.com"
to = ["oncall@example.com"]
apps = ["scholarship_api"]
[[alerts.channels]]
name = "chat"
kind = "slack"
url = "https://hooks.slack.example/T/B/X"
[[alerts.webhooks]]
url = "https://hooks.example/legacy"
"""


def _load(tmp_path: Path, extra: str) -> DRConfig:
    path = tmp_path / "dr.toml"
    path.write_text(GOOD + extra)
    return load_config(path)


def test_channels_load_and_the_old_webhooks_become_channels(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://x@127.0.0.1/x")
    cfg = _load(tmp_path, CHANNELS)
    names = [(c.name, c.kind) for c in cfg.channels]
    assert names == [("pager", "pagerduty"), ("mail", "email"), ("chat", "slack"),
                     ("webhook-1", "webhook")]
    pager, mail, _chat, hook = cfg.channels
    assert pager.url == "https://events.pagerduty.com/v2/enqueue"
    assert mail.smtp.port == 2525 and mail.smtp.starttls and mail.smtp.to == ("oncall@example.com",)
    assert hook.url == "https://hooks.example/legacy"
    critical = {"app": "scholarship_api", "severity": "critical"}
    warning_other = {"app": "billing", "severity": "warning"}
    assert [c.name for c in routed(cfg.channels, critical)] == [
        "pager", "mail", "chat", "webhook-1"]
    assert [c.name for c in routed(cfg.channels, warning_other)] == [
        "chat", "webhook-1"]
    assert [c.name for c in routed(cfg.channels, critical, skip="chat")] == [
        "pager", "mail", "webhook-1"]


@pytest.mark.parametrize(("extra", "says"), [
    ('[[alerts.channels]]\nname = "x"\nkind = "fax"\nurl = "https://a"\n', "unknown kind 'fax'"),
    ('[[alerts.channels]]\nname = "x"\nkind = "slack"\nurl = "https://a"\nseverities = ["loud"]\n',
     "unknown severity 'loud'"),
    ('[[alerts.channels]]\nname = "x"\nkind = "teams"\n', "alerts.channels[0].url: missing"),
    ('[[alerts.channels]]\nname = "x"\nkind = "pagerduty"\n', "routing_key_env: missing"),
    ('[[alerts.channels]]\nname = "x"\nkind = "email"\nhost = "h"\nfrom = "a@b"\nto = ["c@d"]\n'
     'port = 70000\n', "70000 is not a TCP port"),
    ('[[alerts.channels]]\nname = "x"\nkind = "email"\nhost = "h"\nto = ["c@d"]\n',
     "alerts.channels[0].from: missing"),
    ('[[alerts.channels]]\nname = "x"\nkind = "slack"\nurl = "https://a"\nhost = "h"\n',
     "not a setting of a slack channel"),
    ('[[alerts.channels]]\nname = "x"\nkind = "slack"\nurl = "https://a"\n'
     '[[alerts.channels]]\nname = "x"\nkind = "slack"\nurl = "https://b"\n', "defined twice"),
    ('[[alerts.channels]]\nname = "x"\nkind = "slack"\nurl = "ftp://a"\n', "not an http(s) URL"),
])
def test_bad_channels_fail_the_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    extra: str, says: str) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://x@127.0.0.1/x")
    with pytest.raises(ConfigError, ) as err:
        _load(tmp_path, extra)
    assert says in str(err.value)
