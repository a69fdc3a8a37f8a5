"""What a database needs from its server, captured with every backup (format_version 2):
the roles it refers to with their attributes, memberships, settings and password
verifiers, the database's own properties, its extensions and the server's version.

Stored as JSON through the backup stream (zstd, AES-256-GCM under a key derived from the
backup's data key, SHA-256) beside the dump. Password verifiers are secrets: they live
only in that encrypted object and never in a repr, the manifest, the catalog or output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from dr_assets.core.errors import IntegrityError
from dr_assets.core.format.keys import derived_key
from dr_assets.core.format.stream import BackupDecoder, BackupEncoder

DOCUMENT_VERSION = 1
KEY_PURPOSE = b"server-objects"

# Why a database refers to a role (what the restore needs it for).
USE_OWNER = "owner"                    # owns objects in the database
USE_ACL = "acl"                        # granted (or granted) privileges on objects
USE_POLICY = "policy"                  # named in a row-level security policy
USE_DEFAULT_ACL = "default_acl"        # ALTER DEFAULT PRIVILEGES for or to it
USE_DATABASE_OWNER = "database_owner"
USE_DATABASE_ACL = "database_acl"      # granted privileges on the database itself
USE_DATABASE_SETTING = "database_setting"  # ALTER ROLE ... IN DATABASE ... SET
USE_MEMBER = "member"                  # a member of a role the database refers to



class PasswordState:
    CAPTURED = "captured"
    ABSENT = "none"                    # the role has no password on the source
    NOT_CAPTURED = "not captured"


@dataclass(frozen=True)
class RoleAttributes:
    login: bool = False
    superuser: bool = False
    createdb: bool = False
    createrole: bool = False
    inherit: bool = True
    replication: bool = False
    bypassrls: bool = False
    connection_limit: int = -1
    valid_until: str | None = None

    def differences(self, other: RoleAttributes, ours: str = "backup",
                    theirs: str = "target") -> list[str]:
        """Attribute by attribute, what `other` has that this one has not."""
        out = []
        for name, mine in asdict(self).items():
            their = getattr(other, name)
            if mine != their:
                out.append(f"{name.replace('_', ' ')}: {ours} {_word(mine)}, {theirs} "
                           f"{_word(their)}")
        return out


def _word(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "none" if value is None else str(value)


@dataclass(frozen=True)
class Password:
    """A role's password as captured: its verifier (SCRAM-SHA-256 or md5), that it had
    none, or why it could not be read."""

    state: str
    kind: str | None = None
    reason: str | None = None
    verifier: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        if self.state == PasswordState.CAPTURED:
            return f"captured ({self.kind})"
        if self.state == PasswordState.NOT_CAPTURED:
            return f"not captured: {self.reason}"
        return "none"

    @classmethod
    def of(cls, verifier: str | None) -> Password:
        if verifier is None:
            return cls(PasswordState.ABSENT)
        kind = "SCRAM-SHA-256" if verifier.startswith("SCRAM-SHA-256$") else (
            "md5" if verifier.startswith("md5") else "unknown")
        return cls(PasswordState.CAPTURED, kind=kind, verifier=verifier)


@dataclass(frozen=True)
class Role:
    name: str
    attributes: RoleAttributes
    password: Password
    settings: tuple[str, ...] = ()     # ALTER ROLE ... SET, as "name=value"
    uses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Membership:
    role: str        # the role granted
    member: str      # the role it is granted to
    admin_option: bool = False


@dataclass(frozen=True)
class Grant:
    grantee: str     # a role name, or PUBLIC
    privilege: str   # CONNECT, CREATE, TEMPORARY
    grantable: bool = False


@dataclass(frozen=True)
class RoleSettings:
    role: str
    settings: tuple[str, ...]


@dataclass(frozen=True)
class DatabaseProperties:
    name: str
    owner: str
    encoding: str
    collate: str
    ctype: str
    locale_provider: str = "libc"      # libc, icu or builtin
    icu_locale: str | None = None      # the provider's locale (datlocale / daticulocale)
    icu_rules: str | None = None
    connection_limit: int = -1
    settings: tuple[str, ...] = ()     # ALTER DATABASE ... SET, as "name=value"
    role_settings: tuple[RoleSettings, ...] = ()  # ALTER ROLE ... IN DATABASE ... SET
    grants: tuple[Grant, ...] | None = None       # None: the default privileges
    comment: str | None = None


@dataclass(frozen=True)
class Extension:
    name: str
    version: str
    schema: str


@dataclass(frozen=True)
class ServerObjects:
    server_version: str
    server_major: int
    captured_by: str
    database: DatabaseProperties
    roles: tuple[Role, ...] = ()
    memberships: tuple[Membership, ...] = ()
    extensions: tuple[Extension, ...] = ()

    def role(self, name: str) -> Role | None:
        return next((r for r in self.roles if r.name == name), None)

    def to_json(self) -> bytes:
        body = {"document_version": DOCUMENT_VERSION, **asdict(self)}
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_json(cls, blob: bytes, where: str) -> ServerObjects:
        try:
            body = json.loads(blob)
            if int(body.pop("document_version")) > DOCUMENT_VERSION:
                raise IntegrityError(f"{where} is newer than this drctl understands: "
                                     "upgrade drctl to restore it")
            db = body["database"]
            database = DatabaseProperties(**{
                **db, "settings": tuple(db["settings"]),
                "role_settings": tuple(RoleSettings(r["role"], tuple(r["settings"]))
                                       for r in db["role_settings"]),
                "grants": None if db["grants"] is None else tuple(Grant(**g)
                                                                  for g in db["grants"]),
            })
            return cls(
                server_version=str(body["server_version"]),
                server_major=int(body["server_major"]),
                captured_by=str(body["captured_by"]),
                database=database,
                roles=tuple(Role(name=r["name"], attributes=RoleAttributes(**r["attributes"]),
                                 password=Password(**r["password"]),
                                 settings=tuple(r["settings"]), uses=tuple(r["uses"]))
                            for r in body["roles"]),
                memberships=tuple(Membership(**m) for m in body["memberships"]),
                extensions=tuple(Extension(**e) for e in body["extensions"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{where} is not a server objects document ({exc})") from None


@dataclass(frozen=True)
class SealedObject:
    """An object encoded for storage, with what the manifest records of it."""

    stored: bytes = field(repr=False)
    sha256: str
    raw_bytes: int


def seal(objects: ServerObjects, data_key: bytes, chunk_size: int, level: int) -> SealedObject:
    """The server objects as stored bytes, under the key derived for them."""
    encoder = BackupEncoder(derived_key(data_key, KEY_PURPOSE), chunk_size, level, threads=0)
    pieces = encoder.write(objects.to_json()) + encoder.finish()
    return SealedObject(b"".join(pieces), encoder.sha256, encoder.raw_bytes)


def unseal(stored: Iterable[bytes], data_key: bytes, expected_sha256: str,
           where: str) -> ServerObjects:
    """Read stored bytes back: every chunk authenticated, the whole checked against the
    manifest's SHA-256; IntegrityError when either fails."""
    decoder = BackupDecoder(derived_key(data_key, KEY_PURPOSE), where)
    raw = bytearray()
    for block in stored:
        for piece in decoder.write(block):
            raw += piece
    for piece in decoder.finish():
        raw += piece
    if decoder.sha256 != expected_sha256:
        raise IntegrityError(f"{where} failed its checksum (expected {expected_sha256[:12]}.., "
                             f"got {decoder.sha256[:12]}..)")
    return ServerObjects.from_json(bytes(raw), where)
