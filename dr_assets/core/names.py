"""Validation of the identifiers that reach SQL, shell arguments or object keys."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from dr_assets.core.errors import InvalidName

# ASCII only, matched whole (fullmatch: `$` alone would let a trailing newline through):
# no control characters, no lookalike letters (a Cyrillic a) or digits (fullwidth ones).
_APP = re.compile(r"[a-z][a-z0-9_]{0,40}")
_DB = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_BACKUP_ID = re.compile(r"(?P<app>[a-z][a-z0-9_]{0,40})-(?P<ts>[0-9]{8}T[0-9]{6}Z)-(?P<rand>[0-9a-f]{4,8})")

# PostgreSQL's own databases: never a restore's target, in place or new.
SYSTEM_DATABASES = frozenset({"postgres", "template0", "template1"})


MAX_SHOWN = 80  # characters of a refused name an error message repeats


def shown(name: str) -> str:
    """`name` as an error message shows it: quoted, control characters escaped, and cut
    (a refusal must not echo a 256 KB name back, nor into a log)."""
    if len(name) <= MAX_SHOWN:
        return repr(name)
    return f"{name[:MAX_SHOWN]!r}… ({len(name)} characters)"


def _matching(pattern: re.Pattern[str], name: str, refusal: str) -> str:
    """`name` when the whole of it matches (a trailing newline too is refused); else
    InvalidName: `'name' <refusal>`."""
    if not pattern.fullmatch(name):
        raise InvalidName(f"{shown(name)} {refusal}")
    return name


def check_app_name(name: str) -> str:
    return _matching(_APP, name, "is not a valid app name: use lower-case letters, digits and "
                                 "underscores")


def check_database_name(name: str) -> str:
    """Refuse anything that is not a plain identifier; we never rely on quoting alone."""
    return _matching(_DB, name, "is not an acceptable database name: use letters, digits and "
                                "underscores, starting with a letter or underscore, at most 63 "
                                "characters")


def check_role_name(name: str, what: str = "role name") -> str:
    """A role named on a command line or in a request: a plain identifier, never a
    reserved pg_ name. Roles read from a backup are quoted instead, whatever their name."""
    refusal = (f"is not an acceptable {what}: use letters, digits and underscores, starting "
               "with a letter or underscore, at most 63 characters, not pg_* or public")
    if name.lower().startswith("pg_") or name.lower() == "public":
        raise InvalidName(f"{shown(name)} {refusal}")
    return _matching(_ROLE, name, refusal)


def check_backup_id(backup_id: str) -> str:
    return _matching(_BACKUP_ID, backup_id, "is not a backup id: expected "
                                            "APP-YYYYMMDDTHHMMSSZ-xxxx, as listed by `drctl backups`")


def time_of_backup_id(backup_id: str) -> datetime:
    match = _BACKUP_ID.fullmatch(check_backup_id(backup_id))
    assert match is not None
    return datetime.strptime(match.group("ts"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def new_backup_id(app: str, at: datetime) -> str:
    """Time-sortable and unique even for two backups of one app in the same second."""
    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{check_app_name(app)}-{stamp}-{secrets.token_hex(2)}"
