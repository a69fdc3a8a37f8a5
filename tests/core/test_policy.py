"""dr.toml loading: the default file is valid, bad files fail naming file, key and fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dr_assets.core.errors import ConfigError
from dr_assets.core.policy import DrillSettings, DrillTarget, load_config

REPO = Path(__file__).resolve().parents[2]

GOOD = """
[catalog]
database_url = "postgresql://postgres@127.0.0.1:5432/dr_control"
[encryption]
key_file = "keys/master.key"
[[destinations]]
name = "s3"
kind = "s3"
bucket = "dr-backups"
[[destinations]]
name = "local"
kind = "local"
path = "backups"
[apps.scholarship_api]
database_url = "${SCHOLARSHIP_URL}"
rto_hours = 4
rpo_hours = 24
every_hours = 6
retention_days = 90
critical = true
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dr.toml"
    path.write_text(text)
    return path


def test_default_config_holds_the_three_seed_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SCHOLARSHIP_API_DATABASE_URL", "DR_CATALOG_URL"):
        monkeypatch.delenv(var, raising=False)
    cfg = load_config(REPO / "dr.toml")
    assert {a: (p.rto_hours, p.rpo_hours, p.every_hours, p.retention_days, p.critical)
            for a, p in cfg.apps.items()} == {
        "scholarship_api": (4, 24, 6, 90, True),
        "auto_command_center": (2, 12, 4, 60, True),
        "student_dashboard": (8, 48, 12, 30, False),
    }
    assert [d.kind for d in cfg.destinations] == ["s3", "local"]
    assert cfg.apps["scholarship_api"].database_name == "scholarship_api"


def test_environment_variables_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://u:pw@db.internal:6432/sch")
    cfg = load_config(_write(tmp_path, GOOD))
    assert cfg.apps["scholarship_api"].database_url == "postgresql://u:pw@db.internal:6432/sch"
    assert cfg.destinations[1].path == str(tmp_path / "backups")
    assert cfg.encryption.key_file == tmp_path / "keys/master.key"
    assert cfg.destinations[0].grow_parts is True
    fixed = load_config(_write(tmp_path, GOOD.replace('bucket = "dr-backups"',
                                                      'bucket = "dr-backups"\ngrow_parts = false')))
    assert fixed.destinations[0].grow_parts is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t, "environment variable SCHOLARSHIP_URL is not set"),
        (lambda t: t.replace("critical = true", "critical = true\ncolour = 1"),
         r"apps.scholarship_api.colour: unknown key"),
        (lambda t: t.replace("rpo_hours = 24\n", ""), r"apps.scholarship_api.rpo_hours: missing"),
        (lambda t: t.replace("rto_hours = 4", "rto_hours = -4"),
         r"apps.scholarship_api.rto_hours: must be positive"),
        (lambda t: t.replace('kind = "local"', 'kind = "ftp"'),
         r"destinations\[1\].kind: unknown destination kind 'ftp'"),
        (lambda t: t.replace("every_hours = 6", "every_hours = 5"), r"does not divide a day"),
        (lambda t: t.replace("rto_hours = 4", 'rto_hours = "4"'), r"rto_hours: must be a number"),
        (lambda t: t.replace("[apps.scholarship_api]", "[apps.Bad-Name]"), r"apps.Bad-Name"),
        (lambda t: t + "\n[[[", "not valid TOML"),
        (lambda t: t.replace("critical = true", 'critical = true\ndrill_target = "elsewhere"'),
         r"apps.scholarship_api.drill_target: unknown 'elsewhere': use \"isolated\""),
        (lambda t: t + '\n[drills]\nserver_bindir = "/opt/pg/{version}/bin"',
         r"drills.server_bindir: .* has a placeholder other than \{major\}"),
        (lambda t: t + '\n[drills]\nbindir = "/opt"', r"drills.bindir: unknown key"),
        (lambda t: t.replace("critical = true", "critical = true\nstart_offset_minutes = 360"),
         r"apps.scholarship_api.start_offset_minutes: 360 is outside the app's window.*0..359"),
        (lambda t: t.replace("critical = true", "critical = true\nstart_offset_minutes = -1"),
         r"start_offset_minutes: -1 is outside"),
        (lambda t: t + "\n[concurrency]\nmax_concurrent_dumps = 0",
         r"concurrency.max_concurrent_dumps: 0 is out of range.*use 1..64"),
        (lambda t: t + "\n[concurrency]\nmax_dumps = 3", r"concurrency.max_dumps: unknown key"),
        (lambda t: t + '\n[servers.main]\nurl = "postgresql://r@h/postgres"\n'
                       "max_concurrent_dumps = 100",
         r"servers.main.max_concurrent_dumps: 100 is out of range"),
        (lambda t: t.replace('bucket = "dr-backups"', 'bucket = "dr-backups"\ngrow_parts = "no"'),
         r"destinations\[0\].grow_parts: must be a bool"),
        (lambda t: t + "\n[api]\nworker_threads = 0", r"api.worker_threads: 0 is out of range"),
        (lambda t: t + '\n[api]\nworker_threads = "8"', r"api.worker_threads: must be a int"),
        (lambda t: t + "\n[api]\nhealth_timeout_seconds = 0",
         r"api.health_timeout_seconds: must be above 0 and at most 30"),
        (lambda t: t + "\n[api]\nhealth_keep_seconds = -1",
         r"api.health_keep_seconds: must be between 0 and 300"),
        (lambda t: t.replace("dr_control\"", "dr_control\"\nkeep_deleted_days = 7"),
         r"catalog.keep_deleted_days: 7 is out of range: write a number of days from 32"),
        (lambda t: t.replace("dr_control\"", "dr_control\"\nkeep_deleted_days = true"),
         r"catalog.keep_deleted_days: must be a number"),
    ],
)
def test_bad_config_names_file_key_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: object, message: str
) -> None:
    monkeypatch.delenv("SCHOLARSHIP_URL", raising=False)
    text = change(GOOD)  # type: ignore[operator]
    if "is not set" not in message:
        monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://postgres@127.0.0.1/x")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert ":" in str(info.value).split(str(path), 1)[1]


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file.*DR_CONFIG"):
        load_config(tmp_path / "nope.toml")


def test_unknown_app_lists_the_known_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://postgres@127.0.0.1/x")
    cfg = load_config(_write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="unknown app 'payroll'.*scholarship_api"):
        cfg.app("payroll")
    with pytest.raises(ConfigError, match="not a valid app name"):
        cfg.app('x"; DROP DATABASE y; --')


CHECK = '\n[[apps.scholarship_api.validation]]\n'


def _check(**keys: object) -> str:
    return CHECK + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())


def test_validation_checks_are_read_per_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://postgres@127.0.0.1/x")
    text = GOOD + _check(name="orders_recent", sql="select max(created_at) from orders",
                         compare="backup") + _check(name="one", sql="select 1", expect="1",
                                                    timeout_seconds=5)
    [recent, one] = load_config(_write(tmp_path, text)).apps["scholarship_api"].validation
    assert (recent.name, recent.against_backup, recent.expect, recent.timeout_seconds) == (
        "orders_recent", True, None, 60.0)
    assert (one.name, one.against_backup, one.expect, one.timeout_seconds) == ("one", False, "1", 5.0)


@pytest.mark.parametrize(("check", "message"), [
    (_check(name="x", expect="1"), r"validation\[0\].sql: missing"),
    ('\nvalidation = ["select 1"]\n',
     r"validation\[0\]: must be a table: write each check as a \[\[apps.scholarship_api.validation\]\]"),
    (_check(sql="select 1", expect="1"), r"validation\[0\].name: missing"),
    (_check(name="x'; drop table orders; --", sql="select 1", expect="1"),
     r"validation\[0\].name: .* is not an acceptable check name"),
    (_check(name="Orders", sql="select 1", expect="1"), "not an acceptable check name"),
    (_check(name="x", sql="select 1"), "exactly one of expect or compare must be set"),
    (_check(name="x", sql="select 1", expect="1", compare="backup"), "exactly one of expect"),
    (_check(name="x", sql="select 1", compare="live"), r"compare: unknown 'live'.*\"backup\""),
    (_check(name="x", sql="select 1", expect=1), r"validation\[0\].expect: must be a str"),
    (_check(name="x", sql="select 1", expect="1", colour="red"), r"validation\[0\].colour: unknown"),
    (_check(name="x", sql="select 1", expect="1", timeout_seconds=0), "timeout_seconds: out of range"),
    (_check(name="x", sql="select 1", expect="1") + _check(name="x", sql="select 2", expect="2"),
     r"validation\[1\].name: duplicate check 'x'"),
    (_check(name="x", sql="insert into orders default values", expect="1"),
     r"validation\[0\].sql: refused: it is not a query \(it starts with 'INSERT'\)"),
    (_check(name="x", sql="create table t ()", expect="1"), "it starts with 'CREATE'"),
    (_check(name="x", sql="select 1; drop table orders", expect="1"),
     "refused: it has more than one statement"),
    (_check(name="x", sql="select pg_terminate_backend(42)", expect="t"),
     "refused: it calls pg_terminate_backend"),
])
def test_bad_validation_checks_are_config_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, check: str, message: str) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://postgres@127.0.0.1/x")
    path = _write(tmp_path, GOOD + check)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: apps.scholarship_api.validation")


def test_drills_are_isolated_unless_an_app_says_same_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://postgres@127.0.0.1/x")
    cfg = load_config(_write(tmp_path, GOOD))
    assert cfg.apps["scholarship_api"].drill_target == DrillTarget.ISOLATED
    assert cfg.drills == DrillSettings() and cfg.drills.bindir(15) is None
    text = GOOD.replace("critical = true", 'critical = true\ndrill_target = "same_server"')
    text += '[drills]\ninstances_dir = "instances"\nserver_bindir = "/opt/pg/{major}/bin"\n'
    cfg = load_config(_write(tmp_path, text))
    assert cfg.apps["scholarship_api"].drill_target == DrillTarget.SAME_SERVER
    assert cfg.drills.instances_dir == tmp_path / "instances"
    assert cfg.drills.bindir(16) == Path("/opt/pg/16/bin")


def test_names_with_a_trailing_newline_are_refused() -> None:
    from dr_assets.core.errors import InvalidName as Refused
    from dr_assets.core.names import check_app_name, check_backup_id, check_database_name, check_role_name

    for check, name in ((check_app_name, "shop\n"), (check_database_name, "shop\n"),
                        (check_role_name, "app\n"), (check_backup_id, "shop-20261126T060000Z-3f9a\n")):
        with pytest.raises(Refused):
            check(name)
        assert check(name.rstrip("\n")) == name.rstrip("\n")


def test_offsets_and_dump_limits_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://postgres@db.internal/x")
    text = GOOD.replace("critical = true", "critical = true\nstart_offset_minutes = 45")
    text += ("\n[concurrency]\nmax_concurrent_dumps = 3\n[servers.main]\n"
             'url = "postgresql://r@db.internal/postgres"\nmax_concurrent_dumps = 1\n')
    cfg = load_config(_write(tmp_path, text))
    assert cfg.apps["scholarship_api"].start_offset_minutes == 45
    assert cfg.concurrency.max_concurrent_dumps == 3
    assert cfg.servers["main"].max_concurrent_dumps == 1
    from dr_assets.core.scheduling.sources import dump_limits
    # The app lives on the protected server (same host and port): the server's limit holds.
    assert dump_limits(cfg) == {"dr-dumps/db.internal:5432": 1}


def test_rows_of_deleted_backups_are_kept_400_days_unless_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://postgres@127.0.0.1/x")
    assert load_config(_write(tmp_path, GOOD)).keep_deleted_days == 400
    for days in (0, 32, 90):
        text = GOOD.replace('dr_control"', f'dr_control"\nkeep_deleted_days = {days}')
        assert load_config(_write(tmp_path, text)).keep_deleted_days == days


@pytest.mark.parametrize(("forecasts", "message"), [
    ("window_days = 3", r"forecasts.window_days: 3 is out of range: write a number of days "
                        r"from 7"),
    ("window_days = 1000", r"forecasts.window_days: 1000 is out of range"),
    ("alert_days_ahead = 0", r"forecasts.alert_days_ahead: 0 is out of range: write a number "
                             r"of days from 1 to window_days \(90\)"),
    ("alert_days_ahead = 40\nwindow_days = 30", r"forecasts.alert_days_ahead: 40 is out of "
                                                r"range.*\(30\)"),
    ('alert_days_ahead = "30"', r"forecasts.alert_days_ahead: must be a int"),
    ("horizon = 3", r"forecasts.horizon: unknown key"),
])
def test_bad_forecast_settings_are_config_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forecasts: str, message: str) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://postgres@127.0.0.1/x")
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, GOOD + f"\n[forecasts]\n{forecasts}\n"))


def test_forecast_settings_default_and_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://postgres@127.0.0.1/x")
    default = load_config(_write(tmp_path, GOOD)).forecasts
    assert (default.alert_days_ahead, default.window_days) == (30, 90)
    chosen = load_config(_write(tmp_path, GOOD + "\n[forecasts]\nalert_days_ahead = 14\n"
                                                 "window_days = 60\n")).forecasts
    assert (chosen.alert_days_ahead, chosen.window_days) == (14, 60)
    short = load_config(_write(tmp_path, GOOD + "\n[forecasts]\nwindow_days = 10\n")).forecasts
    assert (short.alert_days_ahead, short.window_days) == (10, 10)
