"""Where a PostgreSQL server is and how to reach it: a parsed postgresql:// URL whose
password stays out of reprs, logs and command lines (libpq reads it from the environment).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from dr_assets.core.errors import ToolError

_LIBPQ_ENV = {
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}


@dataclass(frozen=True)
class ConnInfo:
    host: str
    port: int
    user: str
    dbname: str
    password: str | None = field(default=None, repr=False)
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, url: str) -> ConnInfo:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ToolError(f"{redact(url)} is not a postgresql:// URL")
        dbname = unquote(parts.path.lstrip("/")) or "postgres"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username) if parts.username else "postgres",
            password=unquote(parts.password) if parts.password else None,
            dbname=dbname,
            params=tuple(parse_qsl(parts.query)),
        )

    def with_db(self, dbname: str) -> ConnInfo:
        return replace(self, dbname=dbname)

    @property
    def safe_url(self) -> str:
        """The URL without its password: fit for logs, manifests and the catalog."""
        query = "&".join(f"{k}={quote(v)}" for k, v in self.params)
        url = f"postgresql://{quote(self.user)}@{self.host}:{self.port}/{quote(self.dbname)}"
        return f"{url}?{query}" if query else url

    def connect_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname,
        }
        if self.password:
            kw["password"] = self.password
        kw.update(dict(self.params))
        kw.setdefault("connect_timeout", "10")
        return kw

    def tool_args(self) -> list[str]:
        return ["-h", self.host, "-p", str(self.port), "-U", self.user]

    def tool_env(self) -> dict[str, str]:
        # Connection settings come from the URL only; a password may also come from
        # $PGPASSWORD (or ~/.pgpass) so that it never has to be written in a URL.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG") or k == "PGPASSWORD"}
        if self.password:
            env["PGPASSWORD"] = self.password
        for key, value in self.params:
            if key in _LIBPQ_ENV:
                env[_LIBPQ_ENV[key]] = value
        return env


def redact(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
