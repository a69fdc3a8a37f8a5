"""The app catalog and its recovery policies, loaded from dr.toml (path from DR_CONFIG)."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from dr_assets.core.errors import ConfigError, InvalidName
from dr_assets.core.names import SYSTEM_DATABASES, check_app_name, check_database_name
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.queries import UnsafeQuery, refuse_unsafe

DEFAULT_CONFIG = "dr.toml"
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_CHECK_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_SLOT = re.compile(r"[a-z0-9_]{1,63}")
_DESTINATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
DEFAULT_DAGSTER_DATABASE = "dagster"
COMPARE_BACKUP = "backup"
DEFAULT_CHECK_TIMEOUT = 60.0
# [catalog] keep_deleted_days: how long the rows of deleted backups stay in the catalog. A
# compliance report reads them as evidence of the period they covered and of their deletion
# (a report covers up to 366 days), and the monthly report is built on the 1st for the month
# just ended: 400 keeps every report of the past year whole, 32 at least that month's.
DEFAULT_KEEP_DELETED_DAYS = 400
MIN_KEEP_DELETED_DAYS = 32
MAX_CHECK_TIMEOUT = 3600.0


@dataclass(frozen=True)
class ValidationCheck:
    """A query a drill runs on the restored database: its answer must be `expect`, or (with
    compare = "backup") the answer the same query gave in the dump's snapshot."""

    name: str
    sql: str
    expect: str | None = None
    compare: str | None = None
    timeout_seconds: float = DEFAULT_CHECK_TIMEOUT

    @property
    def against_backup(self) -> bool:
        return self.compare == COMPARE_BACKUP


MAJOR_PLACEHOLDER = "{major}"


class DrillTarget:
    """Where an app's drills restore: `drill_target` in dr.toml, `target` in dr.drills."""

    # A throwaway server of the backup's major version holding nothing but what the backup
    # brings, as after losing the whole server.
    ISOLATED: Final = "isolated"
    SAME_SERVER: Final = "same_server"  # a scratch database beside the app's own
    # Not a drill_target: the app's server recovered from its WAL to a restore point in a
    # throwaway instance (point-in-time drills, on the server's own schedule).
    POINT_IN_TIME: Final = "point_in_time"


DRILL_TARGETS: Final = (DrillTarget.ISOLATED, DrillTarget.SAME_SERVER)


def drill_kind(target: str, server_version: str | None = None) -> str:
    """Which kind of drill, in words: "isolated (empty PostgreSQL 15 server)", "same server"."""
    if target == DrillTarget.POINT_IN_TIME:
        return "point in time (server recovered from WAL to a restore point)"
    if target != DrillTarget.ISOLATED:
        return "same server"
    major = server_version.split(".")[0].split()[0] if server_version else ""
    return f"isolated (empty PostgreSQL {major} server)" if major else "isolated (empty server)"


@dataclass(frozen=True)
class AnomalyThresholds:
    """When a new backup's contents look like data loss or tampering, against the app's
    recent verified backups (dr_assets.core.anomalies.rules): `[anomalies]` for the estate,
    `[apps.NAME.anomalies]` per app, key by key."""

    enabled: bool = True
    # A table lost more than this share of its rows AND more than rows_drop_min rows since
    # the previous verified backup.
    rows_drop_fraction: float = 0.5
    rows_drop_min: int = 1000
    # A table of the previous verified backup that is gone, when it held at least this many
    # rows there (0: even an empty one).
    vanished_min_rows: int = 1
    # The dump (its size before compression) below this share of the median of the last
    # `history` verified backups, once there are at least `min_history` of them.
    size_drop_fraction: float = 0.5
    history: int = 10
    min_history: int = 3
    # The compression ratio (stored bytes / dump bytes) at least ratio_min AND at least
    # ratio_rise above the median ratio of the same backups: text became random-looking
    # bytes (encrypted data, the ransomware signature).
    ratio_rise: float = 0.2
    ratio_min: float = 0.45


# [anomalies] keys: (whole number?, lowest, highest, what to write). Shares and ratios are
# above their lowest (0); counts may equal it. Shares (*_fraction) are below 1.
ANOMALY_KEYS: Final[dict[str, tuple[bool, float, float, str]]] = {
    "rows_drop_fraction": (False, 0, 1, "a share above 0 and below 1, such as 0.5"),
    "rows_drop_min": (True, 0, 10**12, "a number of rows, 0 or more, such as 1000"),
    "vanished_min_rows": (True, 0, 10**12, "a number of rows, 0 or more, such as 1"),
    "size_drop_fraction": (False, 0, 1, "a share above 0 and below 1, such as 0.5"),
    "history": (True, 1, 100, "a number of backups from 1 to 100, such as 10"),
    "min_history": (True, 1, 100, "a number of backups from 1 to `history`, such as 3"),
    "ratio_rise": (False, 0, 1, "a rise above 0 and at most 1, such as 0.2"),
    "ratio_min": (False, 0, 1, "a ratio above 0 and at most 1, such as 0.45"),
}


@dataclass(frozen=True)
class AppPolicy:
    name: str
    database_url: str
    rto_hours: float
    rpo_hours: float
    every_hours: int
    retention_days: int
    critical: bool
    min_keep: int = 3
    drill_cron: str = "0 3 1 * *"
    validation: tuple[ValidationCheck, ...] = ()
    drill_target: str = DrillTarget.ISOLATED
    # The [servers.NAME] whose WAL protects this app continuously (point-in-time recovery);
    # None: the app's recovery points are its dumps alone.
    server: str | None = None
    # Minutes after its window closes that the app's backup starts; None: a stable offset
    # from a hash of its name (dr_assets.core.scheduling.offsets), so a thousand apps of one
    # cadence do not all start at minute 0.
    start_offset_minutes: int | None = None
    # Databases besides its own that an in-place restore (REPLACE) of this app's backups may
    # replace; the app's own database is always allowed (dr_assets.core.restore.targets).
    replace_allowed: tuple[str, ...] = ()
    anomalies: AnomalyThresholds = field(default_factory=AnomalyThresholds)

    @property
    def database_name(self) -> str:
        return ConnInfo.parse(self.database_url).dbname


DEFAULT_SLOT = "dr_control"


@dataclass(frozen=True)
class ServerPolicy:
    """A PostgreSQL server under continuous protection: its WAL streamed through a
    replication slot, base backups on a cadence, both kept `retention_days`."""

    name: str
    url: str  # a role with REPLICATION; the database part names where to connect for SQL
    slot: str = DEFAULT_SLOT
    base_backup_every_hours: int = 24
    retention_days: int = 14
    min_keep: int = 2  # base backups kept whatever their age (the retention floor)
    partial_upload_seconds: float = 5.0
    # Where the streamer keeps what pg_receivewal wrote until every destination holds it;
    # None: .dr/wal-spool/<server> beside dr.toml.
    spool_dir: Path | None = None
    # Alert when the slot retains more than this share of max_slot_wal_keep_size (or, where
    # that is unlimited, more than slot_alert_gb).
    slot_alert_fraction: float = 0.8
    slot_alert_gb: float = 10.0
    # A restore point with per-table row counts every this many minutes: what point-in-time
    # drills recover to and compare against.
    restore_point_minutes: float = 10.0
    pitr_drill_cron: str = "0 5 1 * *"
    # At most this many dumps (and base backups) at once against this server; None: the
    # [concurrency] default.
    max_concurrent_dumps: int | None = None

    @property
    def conninfo(self) -> ConnInfo:
        return ConnInfo.parse(self.url)

    def spool(self, base: Path) -> Path:
        return self.spool_dir if self.spool_dir is not None else base / ".dr" / "wal-spool" / self.name


@dataclass(frozen=True)
class DestinationConfig:
    name: str
    kind: str  # "s3" | "local"
    path: str = ""
    bucket: str = ""
    prefix: str = "backups"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    sse: str | None = None
    part_size_mb: int = 16
    grow_parts: bool = True
    object_lock_days: int | None = None


@dataclass(frozen=True)
class EncryptionConfig:
    key_file: Path | None
    key_env: str | None
    previous_key_files: tuple[Path, ...] = ()
    chunk_size: int = 1 << 20


@dataclass(frozen=True)
class WebhookConfig:
    url: str


CHANNEL_KINDS = ("webhook", "email", "pagerduty", "slack", "teams")
CHANNEL_SEVERITIES = ("critical", "error", "warning", "info")
DEFAULT_CHANNEL_TIMEOUT_SECONDS = 10.0
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


MAX_DIGEST_MINUTES = 1440


@dataclass(frozen=True)
class SmtpSettings:
    """Where an email channel hands its messages over, and as whom."""

    host: str
    port: int = 587
    starttls: bool = True
    username: str = ""
    password_env: str = ""  # the name of the variable holding the password, read at send time
    sender: str = ""
    to: tuple[str, ...] = ()
    # 0: one message per alert opened and per alert resolved; N: one digest message of
    # every event waiting, sent once the oldest has waited N minutes.
    digest_minutes: int = 0


@dataclass(frozen=True)
class ChannelConfig:
    """One [[alerts.channels]] row. `url` is the HTTP endpoint of webhook, Slack, Teams and
    PagerDuty (the Events API v2 unless set); `routing_key_env` names the variable holding
    PagerDuty's integration key, so the key stays out of dr.toml."""

    name: str
    kind: str
    url: str = ""
    smtp: SmtpSettings | None = None
    routing_key_env: str = ""
    severities: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()
    timeout_seconds: float = DEFAULT_CHANNEL_TIMEOUT_SECONDS

    def takes(self, alert: Mapping[str, Any]) -> bool:
        """Whether this channel is routed the alert (its severity and app)."""
        if self.severities and alert.get("severity") not in self.severities:
            return False
        return not self.apps or alert.get("app") in self.apps


@dataclass(frozen=True)
class ApiConfig:
    """The GraphQL API: where Dagster answers, and how bearer tokens are checked."""

    dagster_url: str = "http://127.0.0.1:3000"
    jwt_issuer: str = "pg-dr-control"
    jwt_audience: str = "dr-api"
    roles_claim: str = "role"
    jwt_secret_env: str = "DR_JWT_SECRET"  # noqa: S105 - the name of a variable
    jwt_secret_file: Path | None = None
    jwks_url: str = ""
    max_query_depth: int = 10
    max_page_size: int = 200
    # Whole answers to identical GraphQL queries are shared by callers of the same role for
    # at most this long (and dropped at once when the catalog changes); 0 turns it off.
    response_cache_seconds: float = 1.0
    # Resolvers that wait on the catalog, a store or Dagster run in this many worker threads
    # (the catalog pool holds as many connections); /healthz and cached answers never wait.
    worker_threads: int = 16
    # healthCheck: each component's probe answers within this, or counts as down; the answer
    # is kept this long, so a flood of healthCheck calls costs one probe per component.
    health_timeout_seconds: float = 2.0
    health_keep_seconds: float = 5.0
    # Introspection (__schema, __type) and GraphiQL for callers without a token; off by
    # default: anonymous callers see the public fields' answers, not the whole schema.
    public_introspection: bool = False
    # An operation's cost (graphql_api/cost.py) above this is refused before it runs.
    max_query_cost: int = 2000
    # Requests per second, and the burst, each client address may send without a token
    # (anonymous_*) or with a refused one (refused_*); 0 turns that limit off. Callers with
    # a valid token are not limited; /healthz never is.
    anonymous_rate: float = 20.0
    anonymous_burst: int = 60
    refused_rate: float = 2.0
    refused_burst: int = 10
    # A request body (a GraphQL document with its variables, a REST POST) larger than this
    # is answered 413 before it is read further.
    max_body_bytes: int = 1_048_576


@dataclass(frozen=True)
class DrillSettings:
    """Where isolated drills start their throwaway servers, and with which binaries."""

    instances_dir: Path | None = None  # None: the system temporary directory
    # initdb and pg_ctl of a major version: a path in which {major} stands for it; None:
    # Debian's /usr/lib/postgresql/<major>/bin, then the pg_ctl on PATH.
    server_bindir: str | None = None

    def bindir(self, major: int) -> Path | None:
        if self.server_bindir is None:
            return None
        return Path(self.server_bindir.replace(MAJOR_PLACEHOLDER, str(major)))


@dataclass(frozen=True)
class RestoreSettings:
    """Servers, besides each app's own, that a restore launched through Dagster may write:
    `host:port`, as the target URL names them. A run config is free text anyone reaching
    Dagster can write; this list is not."""

    allowed_servers: tuple[str, ...] = ()


DEFAULT_TICKET_TTL_MINUTES = 15
MAX_TICKET_TTL_MINUTES = 1440


@dataclass(frozen=True)
class LaunchTicketSettings:
    """The keys that sign and check launch tickets (core/access/tickets.py). Without
    key_file the ticket keys are derived from the master keys ([encryption]), current and
    previous, so they rotate with them; with it, a key of their own (the master key's file
    format, `drctl key generate`), rotated the same way through previous_key_files. A ticket
    is good for ttl_minutes from its minting to its run's creation."""

    key_file: Path | None = None
    previous_key_files: tuple[Path, ...] = ()
    ttl_minutes: int = DEFAULT_TICKET_TTL_MINUTES


DEFAULT_MAX_CONCURRENT_DUMPS = 2
MAX_CONCURRENT_DUMPS = 64


@dataclass(frozen=True)
class ConcurrencySettings:
    """How many dumps run at once against one PostgreSQL server (a [servers.NAME] may set
    its own), enforced by Dagster's pools (dr_assets.core.scheduling.sources)."""

    max_concurrent_dumps: int = DEFAULT_MAX_CONCURRENT_DUMPS


DEFAULT_ALERT_DAYS_AHEAD = 30
DEFAULT_WINDOW_DAYS = 90
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS = 7, 730


@dataclass(frozen=True)
class ForecastSettings:
    """Trends fitted over the last `window_days` of history and drawn as far ahead; an
    alert opens once a limit (the RTO, the storage quota, a slot's disk) is forecast to be
    reached within `alert_days_ahead`."""

    alert_days_ahead: int = DEFAULT_ALERT_DAYS_AHEAD
    window_days: int = DEFAULT_WINDOW_DAYS


@dataclass(frozen=True)
class DRConfig:
    path: Path
    catalog_url: str
    encryption: EncryptionConfig
    destinations: tuple[DestinationConfig, ...]
    apps: Mapping[str, AppPolicy]
    webhooks: tuple[WebhookConfig, ...] = ()
    # Every way alerts reach people: [[alerts.channels]], then each [[alerts.webhooks]]
    # as a webhook channel named webhook-1, webhook-2, ...
    channels: tuple[ChannelConfig, ...] = ()
    storage_quota_bytes: int | None = None
    zstd_level: int = 1
    api: ApiConfig = field(default_factory=ApiConfig)
    drills: DrillSettings = field(default_factory=DrillSettings)
    restore: RestoreSettings = field(default_factory=RestoreSettings)
    launch_tickets: LaunchTicketSettings = field(default_factory=LaunchTicketSettings)
    servers: Mapping[str, ServerPolicy] = field(default_factory=dict)
    concurrency: ConcurrencySettings = field(default_factory=ConcurrencySettings)
    forecasts: ForecastSettings = field(default_factory=ForecastSettings)
    # The name of Dagster's own database (its runs and events), which no restore may write:
    # [dagster] database, else $DAGSTER_PG_DB (what dagster.yaml reads), else dagster.
    dagster_database: str = DEFAULT_DAGSTER_DATABASE

    @property
    def catalog_database(self) -> str:
        return ConnInfo.parse(self.catalog_url).dbname
    keep_deleted_days: int = DEFAULT_KEEP_DELETED_DAYS  # 0: never purged

    def server(self, name: str) -> ServerPolicy:
        if name not in self.servers:
            known = ", ".join(sorted(self.servers)) or "none"
            raise ConfigError(f"unknown server {name!r}: the servers in {self.path} are {known}")
        return self.servers[name]

    def server_of(self, app: str) -> ServerPolicy | None:
        """The server protecting an app's WAL, or None when only its dumps do."""
        name = self.app(app).server
        return self.servers[name] if name is not None else None

    def apps_on(self, server: str) -> list[str]:
        return sorted(a for a, p in self.apps.items() if p.server == server)

    def app(self, name: str) -> AppPolicy:
        try:
            check_app_name(name)
        except InvalidName as exc:
            raise ConfigError(str(exc)) from None
        if name not in self.apps:
            known = ", ".join(sorted(self.apps)) or "none"
            raise ConfigError(f"unknown app {name!r}: the apps in {self.path} are {known}")
        return self.apps[name]


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get("DR_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str] | None = None) -> DRConfig:
    """Read and validate dr.toml; every error names the file, the key and the fix."""
    cfg_path = config_path(path)
    try:
        raw = tomllib.loads(cfg_path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{cfg_path}: no such config file: create it (see README, 'Configuration') "
            "or point DR_CONFIG at one"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{cfg_path}: not valid TOML ({exc}): fix the syntax") from None
    return _Loader(cfg_path).load(raw)


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.resolve().parent

    def fail(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}: {fix}")

    def expand(self, key: str, value: str) -> str:
        def sub(match: re.Match[str]) -> str:
            name, default = match.group("name"), match.group("default")
            found = os.environ.get(name)
            if found is not None and found != "":
                return found
            if default is not None:
                return default
            raise self.fail(
                key,
                f"environment variable {name} is not set",
                f"export {name}=... or write ${{{name}:-default}}",
            )

        return _VAR.sub(sub, value)

    def table(self, raw: Any, key: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(key, "must be a table", f"write it as [{key}]")
        return raw

    def take(
        self,
        raw: dict[str, Any],
        section: str,
        allowed: Mapping[str, type | tuple[type, ...]],
        required: tuple[str, ...],
    ) -> dict[str, Any]:
        for name in raw:
            if name not in allowed:
                raise self.fail(
                    f"{section}.{name}",
                    "unknown key",
                    f"remove it or use one of {', '.join(sorted(allowed))}",
                )
        for name in required:
            if name not in raw:
                raise self.fail(f"{section}.{name}", "missing", f"add {name} = ... to [{section}]")
        out: dict[str, Any] = {}
        for name, value in raw.items():
            want = allowed[name]
            if isinstance(value, bool) and want in (int, float, (int, float)):
                raise self.fail(f"{section}.{name}", "must be a number", "write a number")
            if not isinstance(value, want):
                kind = want.__name__ if isinstance(want, type) else "number"
                raise self.fail(f"{section}.{name}", f"must be a {kind}", f"write a {kind}")
            out[name] = self.expand(f"{section}.{name}", value) if isinstance(value, str) else value
        return out

    def positive(self, key: str, value: float, allow_zero: bool = False) -> None:
        if value < 0 or (value == 0 and not allow_zero):
            raise self.fail(key, f"must be positive, got {value}", "use a number above zero")

    def resolve(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else self.base / p

    def load(self, raw: dict[str, Any]) -> DRConfig:
        top = {
            "catalog": dict,
            "encryption": dict,
            "destinations": list,
            "apps": dict,
            "alerts": dict,
            "storage": dict,
            "compression": dict,
            "api": dict,
            "drills": dict,
            "servers": dict,
            "concurrency": dict,
            "dagster": dict,
            "anomalies": dict,
            "restore": dict,
            "launch_tickets": dict,
            "forecasts": dict,
        }
        self.take(raw, "(top level)", top, ("catalog", "encryption", "destinations", "apps"))
        catalog = self.take(
            self.table(raw["catalog"], "catalog"), "catalog",
            {"database_url": str, "keep_deleted_days": int}, ("database_url",)
        )
        keep_deleted = catalog.get("keep_deleted_days", DEFAULT_KEEP_DELETED_DAYS)
        if keep_deleted != 0 and not MIN_KEEP_DELETED_DAYS <= keep_deleted <= 36500:
            raise self.fail(
                "catalog.keep_deleted_days", f"{keep_deleted} is out of range",
                f"write a number of days from {MIN_KEEP_DELETED_DAYS} (the monthly compliance "
                "report reads a month's deleted backups on the 1st after it) to 36500, or 0 to "
                "never purge the rows of deleted backups")
        encryption = self.encryption(self.table(raw["encryption"], "encryption"))
        destinations = self.destinations(raw["destinations"])
        estate_anomalies = self.anomalies(raw.get("anomalies", {}), "anomalies",
                                          AnomalyThresholds())
        apps = self.apps(self.table(raw["apps"], "apps"), estate_anomalies)
        webhooks: tuple[WebhookConfig, ...] = ()
        channels: tuple[ChannelConfig, ...] = ()
        if "alerts" in raw:
            alerts = self.take(raw["alerts"], "alerts", {"webhooks": list, "channels": list}, ())
            hooks = []
            for i, hook in enumerate(alerts.get("webhooks", [])):
                h = self.take(self.table(hook, "alerts.webhooks"), f"alerts.webhooks[{i}]",
                              {"url": str}, ("url",))
                if not h["url"].startswith(("http://", "https://")):
                    raise self.fail(f"alerts.webhooks[{i}].url", "not an http(s) URL",
                                    "write https://...")
                hooks.append(WebhookConfig(url=h["url"]))
            webhooks = tuple(hooks)
            channels = self.channels(alerts.get("channels", []), webhooks)
        quota = None
        if "storage" in raw:
            storage = self.take(raw["storage"], "storage", {"quota_gb": (int, float)}, ())
            if "quota_gb" in storage:
                self.positive("storage.quota_gb", storage["quota_gb"])
                quota = int(storage["quota_gb"] * (1 << 30))
        level = 1
        if "compression" in raw:
            comp = self.take(raw["compression"], "compression", {"zstd_level": int}, ())
            level = comp.get("zstd_level", 1)
            if not 1 <= level <= 19:
                raise self.fail("compression.zstd_level", f"{level} is out of range", "use 1..19")
        api = self.api(raw["api"]) if "api" in raw else ApiConfig()
        drills = self.drills(raw["drills"]) if "drills" in raw else DrillSettings()
        restore = self.restore(raw["restore"]) if "restore" in raw else RestoreSettings()
        tickets = (self.launch_tickets(raw["launch_tickets"]) if "launch_tickets" in raw
                   else LaunchTicketSettings())
        servers = self.servers(self.table(raw["servers"], "servers")) if "servers" in raw else {}
        concurrency = (self.concurrency(raw["concurrency"]) if "concurrency" in raw
                       else ConcurrencySettings())
        dagster_database = self.dagster_database(raw.get("dagster", {}))
        forecasts = self.forecasts(raw.get("forecasts", {}))
        reserved = {ConnInfo.parse(catalog["database_url"]).dbname: "the catalog's database",
                    dagster_database: "Dagster's database ([dagster] database)"}
        for name, app in apps.items():
            for i, db in enumerate(app.replace_allowed):
                what = "a system database" if db.lower() in SYSTEM_DATABASES else reserved.get(db)
                if what is not None:
                    raise self.fail(f"apps.{name}.replace_allowed[{i}]",
                                    f"{db!r} is {what}, which no restore may replace",
                                    "remove it: name only application databases")
            if app.server is not None and app.server not in servers:
                known = ", ".join(sorted(servers)) or "none are defined"
                raise self.fail(f"apps.{name}.server", f"unknown server {app.server!r}",
                                f"name one of the [servers.NAME] tables ({known})")
        return DRConfig(
            forecasts=forecasts,
            servers=servers,
            concurrency=concurrency,
            dagster_database=dagster_database,
            api=api,
            drills=drills,
            restore=restore,
            launch_tickets=tickets,
            path=self.path,
            catalog_url=catalog["database_url"],
            keep_deleted_days=keep_deleted,
            encryption=encryption,
            destinations=destinations,
            apps=apps,
            webhooks=webhooks,
            channels=channels,
            storage_quota_bytes=quota,
            zstd_level=level,
        )

    def forecasts(self, raw: Any) -> ForecastSettings:
        f = self.take(self.table(raw, "forecasts"), "forecasts",
                      {"alert_days_ahead": int, "window_days": int}, ())
        window = f.get("window_days", DEFAULT_WINDOW_DAYS)
        if not MIN_WINDOW_DAYS <= window <= MAX_WINDOW_DAYS:
            raise self.fail("forecasts.window_days", f"{window} is out of range",
                            f"write a number of days from {MIN_WINDOW_DAYS} (fewer hold too "
                            f"few drills for a trend) to {MAX_WINDOW_DAYS}")
        ahead = f.get("alert_days_ahead", min(DEFAULT_ALERT_DAYS_AHEAD, window))
        if not 1 <= ahead <= window:
            raise self.fail("forecasts.alert_days_ahead", f"{ahead} is out of range",
                            f"write a number of days from 1 to window_days ({window}): a "
                            "trend is forecast only as far ahead as its window looks back")
        return ForecastSettings(alert_days_ahead=ahead, window_days=window)

    def channels(self, raw: list[Any], webhooks: tuple[WebhookConfig, ...]
                 ) -> tuple[ChannelConfig, ...]:
        """[[alerts.channels]], checked whole: a channel that cannot send is a load error."""
        out: list[ChannelConfig] = []
        allowed: dict[str, type | tuple[type, ...]] = {
            "name": str, "kind": str, "url": str, "host": str, "port": int, "starttls": bool,
            "username": str, "password_env": str, "from": str, "to": list,
            "routing_key_env": str, "severities": list, "apps": list,
            "timeout_seconds": (int, float), "digest_minutes": int}
        for i, item in enumerate(raw):
            key = f"alerts.channels[{i}]"
            c = self.take(self.table(item, key), key, allowed, ("name", "kind"))
            name, kind = c["name"], c["kind"]
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", name):
                raise self.fail(f"{key}.name", f"{name!r} is not a channel name",
                                "use letters, digits, '-', '_' or '.' (at most 63)")
            if any(o.name == name for o in out):
                raise self.fail(f"{key}.name", f"channel {name!r} is defined twice",
                                "give every channel its own name")
            if kind not in CHANNEL_KINDS:
                raise self.fail(f"{key}.kind", f"unknown kind {kind!r}",
                                f"use one of {', '.join(CHANNEL_KINDS)}")
            severities = self.strings(f"{key}.severities", c.get("severities", []))
            for s in severities:
                if s not in CHANNEL_SEVERITIES:
                    raise self.fail(f"{key}.severities", f"unknown severity {s!r}",
                                    f"use some of {', '.join(CHANNEL_SEVERITIES)}")
            apps = self.strings(f"{key}.apps", c.get("apps", []))
            timeout = c.get("timeout_seconds", DEFAULT_CHANNEL_TIMEOUT_SECONDS)
            self.positive(f"{key}.timeout_seconds", timeout)
            if timeout > 120:
                raise self.fail(f"{key}.timeout_seconds", f"{timeout} is over 120",
                                "a sensor tick waits for it: use at most 120 seconds")
            settings = {"email": {"host", "port", "starttls", "username", "password_env",
                                  "from", "to", "digest_minutes"},
                        "pagerduty": {"url", "routing_key_env"}}.get(kind, {"url"})
            for extra in sorted(set(c) - settings - {"name", "kind", "severities", "apps",
                                                     "timeout_seconds"}):
                raise self.fail(f"{key}.{extra}", f"not a setting of a {kind} channel",
                                f"remove it, or use one of {', '.join(sorted(settings))}")
            url = c.get("url", PAGERDUTY_EVENTS_URL if kind == "pagerduty" else "")
            smtp = None
            if kind == "email":
                for need in ("host", "from", "to"):
                    if need not in c:
                        raise self.fail(f"{key}.{need}", "missing",
                                        f"an email channel needs {need} = ...")
                port = c.get("port", 587)
                if not 1 <= port <= 65535:
                    raise self.fail(f"{key}.port", f"{port} is not a TCP port", "use 1..65535")
                to = self.strings(f"{key}.to", c["to"])
                if not to or any("@" not in a for a in to):
                    raise self.fail(f"{key}.to", "needs one or more addresses",
                                    'write to = ["oncall@example.com"]')
                if c.get("password_env") and not c.get("username"):
                    raise self.fail(f"{key}.username", "missing",
                                    "password_env logs in: name the username too")
                digest = c.get("digest_minutes", 0)
                if not 0 <= digest <= MAX_DIGEST_MINUTES:
                    raise self.fail(f"{key}.digest_minutes", f"{digest} is out of range",
                                    f"use 0 (a message per alert event) to "
                                    f"{MAX_DIGEST_MINUTES} (a digest a day)")
                smtp = SmtpSettings(host=c["host"], port=port, starttls=c.get("starttls", True),
                                    username=c.get("username", ""),
                                    password_env=c.get("password_env", ""),
                                    sender=c["from"], to=tuple(to), digest_minutes=digest)
            else:
                if not url:
                    raise self.fail(f"{key}.url", "missing", f"a {kind} channel needs url = ...")
                if not url.startswith(("http://", "https://")):
                    raise self.fail(f"{key}.url", "not an http(s) URL", "write https://...")
                if kind == "pagerduty" and not c.get("routing_key_env"):
                    raise self.fail(f"{key}.routing_key_env", "missing",
                                    "name the variable holding the integration key, "
                                    'routing_key_env = "PAGERDUTY_ROUTING_KEY"')
            out.append(ChannelConfig(name=name, kind=kind, url=url, smtp=smtp,
                                     routing_key_env=c.get("routing_key_env", ""),
                                     severities=tuple(severities), apps=tuple(apps),
                                     timeout_seconds=float(timeout)))
        for i, hook in enumerate(webhooks, start=1):
            name = f"webhook-{i}"
            if any(o.name == name for o in out):
                raise self.fail("alerts.channels", f"channel {name!r} is the name of "
                                f"[[alerts.webhooks]] number {i}", "rename the channel")
            out.append(ChannelConfig(name=name, kind="webhook", url=hook.url))
        return tuple(out)

    def strings(self, key: str, raw: Any) -> list[str]:
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            raise self.fail(key, "must be a list of strings", 'write ["a", "b"]')
        return list(raw)

    def dagster_database(self, raw: Any) -> str:
        d = self.take(self.table(raw, "dagster"), "dagster", {"database": str}, ())
        name = d.get("database", os.environ.get("DAGSTER_PG_DB") or DEFAULT_DAGSTER_DATABASE)
        if not name or not name.isprintable() or len(name.encode()) > 63:
            raise self.fail("dagster.database", f"{name!r} is not a database name",
                            "write the name of Dagster's database (DAGSTER_PG_DB in the "
                            "environment of dagster.yaml), such as \"dagster\"")
        return str(name)

    def replace_allowed(self, section: str, raw: Any) -> tuple[str, ...]:
        key = f"{section}.replace_allowed"
        if not isinstance(raw, list):
            raise self.fail(key, "must be a list", 'write replace_allowed = ["db_a", "db_b"]')
        out: list[str] = []
        for i, db in enumerate(raw):
            if not isinstance(db, str):
                raise self.fail(f"{key}[{i}]", "must be a string", "write a database name")
            try:
                check_database_name(db)
            except InvalidName as exc:
                raise self.fail(f"{key}[{i}]", str(exc), "fix the name") from None
            if db in out:
                raise self.fail(f"{key}[{i}]", f"duplicate {db!r}", "name each database once")
            out.append(db)
        return tuple(out)

    def api(self, raw: Any) -> ApiConfig:
        a = self.take(
            self.table(raw, "api"), "api",
            {"dagster_url": str, "jwt_issuer": str, "jwt_audience": str, "roles_claim": str,
             "jwt_secret_env": str, "jwt_secret_file": str, "jwks_url": str,
             "max_query_depth": int, "max_page_size": int,
             "response_cache_seconds": (int, float), "worker_threads": int,
             "health_timeout_seconds": (int, float), "health_keep_seconds": (int, float),
             "public_introspection": bool,
             "max_query_cost": int, "anonymous_rate": (int, float), "anonymous_burst": int,
             "refused_rate": (int, float), "refused_burst": int, "max_body_bytes": int},
            (),
        )
        self.api_limits(a)
        if not 0 <= a.get("response_cache_seconds", 0) <= 60:
            raise self.fail("api.response_cache_seconds", "must be between 0 and 60",
                            "write a number of seconds such as 1, or 0 to turn the cache off")
        if not 1 <= a.get("worker_threads", 1) <= 256:
            raise self.fail("api.worker_threads", f"{a['worker_threads']} is out of range",
                            "use 1..256 (each thread may hold one catalog connection)")
        if not 0 < a.get("health_timeout_seconds", 1) <= 30:
            raise self.fail("api.health_timeout_seconds", "must be above 0 and at most 30",
                            "write a number of seconds such as 2")
        if not 0 <= a.get("health_keep_seconds", 0) <= 300:
            raise self.fail("api.health_keep_seconds", "must be between 0 and 300",
                            "write a number of seconds such as 5, or 0 to probe on every call")
        for key in ("dagster_url", "jwks_url"):
            if a.get(key) and not a[key].startswith(("http://", "https://")):
                raise self.fail(f"api.{key}", "not an http(s) URL", "write https://...")
        if "jwt_secret_file" in a:
            a["jwt_secret_file"] = self.resolve(a["jwt_secret_file"])
        return ApiConfig(**a)

    def api_limits(self, a: dict[str, Any]) -> None:
        """What one caller may ask of the API: page size, query cost, request rates."""
        if not 1 <= a.get("max_page_size", 1) <= 1000:
            raise self.fail("api.max_page_size", f"{a['max_page_size']} is out of range",
                            "use 1..1000 (the largest `first` of a page)")
        if not 4096 <= a.get("max_body_bytes", 4096) <= 64 * 1_048_576:
            raise self.fail("api.max_body_bytes", f"{a['max_body_bytes']} is out of range",
                            "use 4096..67108864 bytes (the default is 1048576, 1 MiB)")
        if not 100 <= a.get("max_query_cost", 100) <= 1_000_000:
            raise self.fail("api.max_query_cost", f"{a['max_query_cost']} is out of range",
                            "use 100..1000000 (the status page's query costs about 500)")
        for who in ("anonymous", "refused"):
            if not 0 <= a.get(f"{who}_rate", 0) <= 100_000:
                raise self.fail(f"api.{who}_rate", "must be between 0 and 100000",
                                "write requests per second such as 20, or 0 for no limit")
            if not 1 <= a.get(f"{who}_burst", 1) <= 100_000:
                raise self.fail(f"api.{who}_burst", f"{a[f'{who}_burst']} is out of range",
                                "use 1..100000 requests")

    def dump_limit(self, key: str, value: int) -> None:
        if not 1 <= value <= MAX_CONCURRENT_DUMPS:
            raise self.fail(key, f"{value} is out of range",
                            f"use 1..{MAX_CONCURRENT_DUMPS} dumps at once against one server "
                            f"({DEFAULT_MAX_CONCURRENT_DUMPS} by default)")

    def concurrency(self, raw: Any) -> ConcurrencySettings:
        c = self.take(self.table(raw, "concurrency"), "concurrency",
                      {"max_concurrent_dumps": int}, ())
        if "max_concurrent_dumps" in c:
            self.dump_limit("concurrency.max_concurrent_dumps", c["max_concurrent_dumps"])
        return ConcurrencySettings(**c)

    def restore(self, raw: Any) -> RestoreSettings:
        r = self.take(self.table(raw, "restore"), "restore", {"allowed_servers": list}, ())
        servers = []
        for i, server in enumerate(r.get("allowed_servers", [])):
            host, _, port = server.rpartition(":") if isinstance(server, str) else ("", "", "")
            if not (host and port.isascii() and port.isdigit() and 0 < int(port) < 65536
                    and re.fullmatch(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\]", host)):
                raise self.fail(f"restore.allowed_servers[{i}]", f"{server!r} is not host:port",
                                'write a server as a restore\'s target URL names it, such as '
                                '"10.0.4.7:5432"')
            servers.append(f"{host.lower()}:{int(port)}")
        return RestoreSettings(allowed_servers=tuple(servers))

    def launch_tickets(self, raw: Any) -> LaunchTicketSettings:
        t = self.take(self.table(raw, "launch_tickets"), "launch_tickets",
                      {"key_file": str, "previous_key_files": list, "ttl_minutes": int}, ())
        ttl = t.get("ttl_minutes", DEFAULT_TICKET_TTL_MINUTES)
        if not 1 <= ttl <= MAX_TICKET_TTL_MINUTES:
            raise self.fail("launch_tickets.ttl_minutes", f"{ttl} is out of range",
                            f"use 1..{MAX_TICKET_TTL_MINUTES} (minutes from minting to launch)")
        previous = []
        for i, item in enumerate(t.get("previous_key_files", [])):
            if not isinstance(item, str):
                raise self.fail(f"launch_tickets.previous_key_files[{i}]", "must be a path",
                                "quote it")
            previous.append(self.resolve(self.expand("launch_tickets.previous_key_files", item)))
        if previous and "key_file" not in t:
            raise self.fail("launch_tickets.previous_key_files", "needs key_file",
                            "without key_file the ticket keys follow [encryption]'s keys: "
                            "rotate those instead, or set key_file")
        key_file = (self.resolve(self.expand("launch_tickets.key_file", t["key_file"]))
                    if "key_file" in t else None)
        return LaunchTicketSettings(key_file=key_file, previous_key_files=tuple(previous),
                                    ttl_minutes=ttl)

    def drills(self, raw: Any) -> DrillSettings:
        d = self.take(self.table(raw, "drills"), "drills",
                      {"instances_dir": str, "server_bindir": str}, ())
        bindir = d.get("server_bindir")
        if bindir is not None and re.search(r"[{}]", bindir.replace(MAJOR_PLACEHOLDER, "")):
            raise self.fail("drills.server_bindir", f"{bindir!r} has a placeholder other than "
                            f"{MAJOR_PLACEHOLDER}",
                            'write a directory such as "/usr/lib/postgresql/{major}/bin"')
        return DrillSettings(
            instances_dir=self.resolve(d["instances_dir"]) if "instances_dir" in d else None,
            server_bindir=str(self.resolve(bindir)) if bindir is not None else None,
        )

    def encryption(self, raw: dict[str, Any]) -> EncryptionConfig:
        enc = self.take(
            raw,
            "encryption",
            {"key_file": str, "key_env": str, "previous_key_files": list, "chunk_size_kb": int},
            (),
        )
        if ("key_file" in enc) == ("key_env" in enc):
            raise self.fail(
                "encryption.key_file",
                "exactly one of key_file or key_env must be set",
                "set key_file = \".dr/keys/master.key\" (see `drctl key generate`) or key_env",
            )
        previous = []
        for i, item in enumerate(enc.get("previous_key_files", [])):
            if not isinstance(item, str):
                raise self.fail(f"encryption.previous_key_files[{i}]", "must be a path", "quote it")
            previous.append(self.resolve(self.expand("encryption.previous_key_files", item)))
        chunk_kb = enc.get("chunk_size_kb", 1024)
        if not 16 <= chunk_kb <= 16384:
            raise self.fail("encryption.chunk_size_kb", f"{chunk_kb} is out of range", "use 16..16384")
        return EncryptionConfig(
            key_file=self.resolve(enc["key_file"]) if "key_file" in enc else None,
            key_env=enc.get("key_env"),
            previous_key_files=tuple(previous),
            chunk_size=chunk_kb * 1024,
        )

    def destinations(self, raw: Any) -> tuple[DestinationConfig, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail("destinations", "at least one is required", "add a [[destinations]] table")
        seen: set[str] = set()
        out = []
        for i, item in enumerate(raw):
            section = f"destinations[{i}]"
            d = self.take(
                self.table(item, section),
                section,
                {
                    "name": str, "kind": str, "path": str, "bucket": str, "prefix": str,
                    "endpoint_url": str, "region": str, "access_key_id": str,
                    "secret_access_key": str, "sse": str, "part_size_mb": int,
                    "grow_parts": bool, "object_lock_days": int,
                },
                ("name", "kind"),
            )
            name = d["name"]
            if not _DESTINATION.fullmatch(name):
                raise self.fail(f"{section}.name", f"{name!r} is not a destination name",
                                "use letters, digits, _, . and - (at most 63, starting with a "
                                "letter or digit), such as \"s3\"")
            if name in seen:
                raise self.fail(f"{section}.name", f"duplicate destination {name!r}", "rename one")
            seen.add(name)
            kind = d["kind"]
            if kind == "local":
                if "path" not in d:
                    raise self.fail(f"{section}.path", "missing", "add path = \".dr/backups\"")
                d["path"] = str(self.resolve(d["path"]))
            elif kind == "s3":
                if "bucket" not in d:
                    raise self.fail(f"{section}.bucket", "missing", "add bucket = \"...\"")
                if d.get("sse") not in (None, "AES256", "aws:kms"):
                    raise self.fail(f"{section}.sse", f"unknown {d['sse']!r}", "use AES256 or aws:kms")
                if not 5 <= d.get("part_size_mb", 16) <= 512:
                    raise self.fail(f"{section}.part_size_mb", "out of range", "use 5..512")
                if "object_lock_days" in d:
                    self.positive(f"{section}.object_lock_days", d["object_lock_days"])
            else:
                raise self.fail(f"{section}.kind", f"unknown destination kind {kind!r}",
                                "use \"s3\" or \"local\"")
            d["prefix"] = d.get("prefix", "backups" if kind == "s3" else "").strip("/")
            out.append(DestinationConfig(**d))
        return tuple(out)

    def anomalies(self, raw: Any, section: str, base: AnomalyThresholds) -> AnomalyThresholds:
        """An [anomalies] table over `base` (the defaults, or the estate's for an app)."""
        allowed: dict[str, type | tuple[type, ...]] = {
            name: int if whole else (int, float) for name, (whole, *_) in ANOMALY_KEYS.items()}
        t = self.take(self.table(raw, section), section, {"enabled": bool, **allowed}, ())
        for name, value in t.items():
            if name == "enabled":
                continue
            whole, low, high, fix = ANOMALY_KEYS[name]
            above_low = low <= value if whole else low < value
            below_high = value < high if name.endswith("_fraction") else value <= high
            if not (above_low and below_high):
                raise self.fail(f"{section}.{name}", f"{value} is out of range", f"use {fix}")
            t[name] = value if whole else float(value)
        chosen = replace(base, **t)
        if chosen.min_history > chosen.history:
            key = "min_history" if "min_history" in t else "history"
            raise self.fail(f"{section}.{key}", f"min_history {chosen.min_history} is above "
                            f"history {chosen.history}",
                            "make min_history at most history (the backups the median is "
                            "taken over)")
        return chosen

    def apps(self, raw: dict[str, Any], anomalies: AnomalyThresholds) -> dict[str, AppPolicy]:
        if not raw:
            raise self.fail("apps", "no apps defined", "add an [apps.NAME] table")
        out = {}
        for name, body in raw.items():
            section = f"apps.{name}"
            try:
                check_app_name(name)
            except InvalidName as exc:
                raise self.fail(section, str(exc), "rename the table") from None
            a = self.take(
                self.table(body, section),
                section,
                {
                    "database_url": str, "rto_hours": (int, float), "rpo_hours": (int, float),
                    "every_hours": int, "retention_days": int, "critical": bool,
                    "min_keep": int, "drill_cron": str, "validation": list,
                    "drill_target": str, "server": str, "start_offset_minutes": int,
                    "replace_allowed": list, "anomalies": dict,
                },
                ("database_url", "rto_hours", "rpo_hours", "every_hours", "retention_days"),
            )
            for key in ("rto_hours", "rpo_hours", "every_hours", "retention_days"):
                self.positive(f"{section}.{key}", a[key])
            if 24 % a["every_hours"] != 0 and a["every_hours"] % 24 != 0:
                raise self.fail(f"{section}.every_hours", f"{a['every_hours']} does not divide a day",
                                "use 1, 2, 3, 4, 6, 8, 12, 24 or a multiple of 24")
            window = a["every_hours"] * 60
            if not 0 <= a.get("start_offset_minutes", 0) < window:
                raise self.fail(f"{section}.start_offset_minutes",
                                f"{a['start_offset_minutes']} is outside the app's window",
                                f"use 0..{window - 1} minutes after the window closes, or leave "
                                "it out for an offset from the app's name")
            if a.get("min_keep", 3) < 1:
                raise self.fail(f"{section}.min_keep", "must be at least 1", "use 1 or more")
            if not a["database_url"].startswith(("postgresql://", "postgres://")):
                raise self.fail(f"{section}.database_url", "not a postgresql:// URL",
                                "write postgresql://user@host:port/dbname")
            if a.get("drill_target", DrillTarget.ISOLATED) not in DRILL_TARGETS:
                raise self.fail(f"{section}.drill_target", f"unknown {a['drill_target']!r}",
                                'use "isolated" (an empty throwaway server, the default) or '
                                '"same_server" (a scratch database beside the app\'s own)')
            checks = self.validation(section, a.pop("validation", []))
            a["anomalies"] = (self.anomalies(a["anomalies"], f"{section}.anomalies", anomalies)
                              if "anomalies" in a else anomalies)
            if "replace_allowed" in a:
                a["replace_allowed"] = self.replace_allowed(section, a["replace_allowed"])
            out[name] = AppPolicy(name=name, critical=a.pop("critical", False), validation=checks,
                                  **a)
        return out

    def servers(self, raw: dict[str, Any]) -> dict[str, ServerPolicy]:
        out = {}
        for name, body in raw.items():
            section = f"servers.{name}"
            try:
                check_app_name(name)
            except InvalidName as exc:
                raise self.fail(section, str(exc).replace("app name", "server name"),
                                "rename the table") from None
            s = self.take(
                self.table(body, section), section,
                {"url": str, "slot": str, "base_backup_every_hours": int, "retention_days": int,
                 "min_keep": int, "partial_upload_seconds": (int, float), "spool_dir": str,
                 "slot_alert_fraction": (int, float), "slot_alert_gb": (int, float),
                 "restore_point_minutes": (int, float), "pitr_drill_cron": str,
                 "max_concurrent_dumps": int},
                ("url",),
            )
            if not s["url"].startswith(("postgresql://", "postgres://")):
                raise self.fail(f"{section}.url", "not a postgresql:// URL",
                                "write postgresql://replicator@host:5432/postgres")
            if not _SLOT.fullmatch(s.get("slot", DEFAULT_SLOT)):
                raise self.fail(f"{section}.slot", f"{s['slot']!r} is not a slot name",
                                "use lower-case letters, digits and underscores (at most 63)")
            every = s.get("base_backup_every_hours", 24)
            if every < 1 or (24 % every != 0 and every % 24 != 0):
                raise self.fail(f"{section}.base_backup_every_hours", f"{every} does not divide "
                                "a day", "use 1, 2, 3, 4, 6, 8, 12, 24 or a multiple of 24")
            for key in ("retention_days", "min_keep", "restore_point_minutes", "slot_alert_gb"):
                if key in s:
                    self.positive(f"{section}.{key}", s[key])
            if not 0.5 <= s.get("partial_upload_seconds", 5.0) <= 300:
                raise self.fail(f"{section}.partial_upload_seconds", "out of range",
                                "use 0.5..300 seconds (5 by default)")
            if not 0 < s.get("slot_alert_fraction", 0.8) <= 1:
                raise self.fail(f"{section}.slot_alert_fraction", "out of range",
                                "use a fraction above 0 and at most 1, such as 0.8")
            if "max_concurrent_dumps" in s:
                self.dump_limit(f"{section}.max_concurrent_dumps", s["max_concurrent_dumps"])
            if "spool_dir" in s:
                s["spool_dir"] = self.resolve(s["spool_dir"])
            for key in ("partial_upload_seconds", "slot_alert_fraction", "slot_alert_gb",
                        "restore_point_minutes"):
                if key in s:
                    s[key] = float(s[key])
            out[name] = ServerPolicy(name=name, **s)
        return out

    def validation(self, app_section: str, raw: list[Any]) -> tuple[ValidationCheck, ...]:
        out: list[ValidationCheck] = []
        for i, item in enumerate(raw):
            section = f"{app_section}.validation[{i}]"
            if not isinstance(item, dict):
                raise self.fail(section, "must be a table",
                                f"write each check as a [[{app_section}.validation]] table")
            c = self.take(item, section,
                          {"name": str, "sql": str, "expect": str, "compare": str,
                           "timeout_seconds": (int, float)}, ("name", "sql"))
            if not _CHECK_NAME.fullmatch(c["name"]):
                raise self.fail(f"{section}.name", f"{c['name']!r} is not an acceptable check name",
                                "use lower-case letters, digits and underscores, starting with "
                                "a letter, at most 63 characters")
            if any(check.name == c["name"] for check in out):
                raise self.fail(f"{section}.name", f"duplicate check {c['name']!r}", "rename one")
            if ("expect" in c) == ("compare" in c):
                raise self.fail(section, "exactly one of expect or compare must be set",
                                'write expect = "the answer" or compare = "backup"')
            if c.get("compare", COMPARE_BACKUP) != COMPARE_BACKUP:
                raise self.fail(f"{section}.compare", f"unknown {c['compare']!r}",
                                'use compare = "backup" (the answer recorded in the backup)')
            if not 0 < c.get("timeout_seconds", DEFAULT_CHECK_TIMEOUT) <= MAX_CHECK_TIMEOUT:
                raise self.fail(f"{section}.timeout_seconds", "out of range",
                                f"use a number of seconds above 0 and at most {MAX_CHECK_TIMEOUT:g}")
            try:
                refuse_unsafe(c["sql"])
            except UnsafeQuery as exc:
                raise self.fail(f"{section}.sql", f"refused: {exc}",
                                "write one read-only query, such as select max(created_at) "
                                "from orders") from None
            c["timeout_seconds"] = float(c.get("timeout_seconds", DEFAULT_CHECK_TIMEOUT))
            out.append(ValidationCheck(**c))
        return tuple(out)
