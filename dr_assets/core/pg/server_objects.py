"""Reading a server's catalogs: what a database needs from its server (at backup time, in
the dump's own snapshot), and the facts of a target server a restore is planned against.

Roles are server-wide, so the capture keeps only the roles the database refers to
(pg_shdepend: owners, grantees, policy and default-privilege roles; the database's owner,
grantees and per-role settings; the bootstrap superuser when it owns objects, since it is
pinned and has no pg_shdepend rows), and the roles that are members of those.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg2.extensions

from dr_assets.core.format.server_objects import (
    USE_ACL,
    USE_DATABASE_ACL,
    USE_DATABASE_OWNER,
    USE_DATABASE_SETTING,
    USE_DEFAULT_ACL,
    USE_MEMBER,
    USE_OWNER,
    USE_POLICY,
    DatabaseProperties,
    Extension,
    Grant,
    Membership,
    Password,
    PasswordState,
    Role,
    RoleAttributes,
    RoleSettings,
    ServerObjects,
)
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.sessions import connection

FIRST_NORMAL_OID = 16384  # objects below it come with the server: never dumped, never made
BOOTSTRAP_SUPERUSER_OID = 10

_USES = f"""
WITH RECURSIVE db AS (SELECT oid FROM pg_database WHERE datname = current_database()),
uses AS (
  SELECT s.refobjid AS role,
         CASE WHEN s.classid = 'pg_default_acl'::regclass THEN '{USE_DEFAULT_ACL}'
              WHEN s.classid = 'pg_database'::regclass AND s.deptype = 'o'
                THEN '{USE_DATABASE_OWNER}'
              WHEN s.classid = 'pg_database'::regclass THEN '{USE_DATABASE_ACL}'
              WHEN s.classid = 'pg_policy'::regclass OR s.deptype = 'r' THEN '{USE_POLICY}'
              WHEN s.deptype = 'o' THEN '{USE_OWNER}'
              ELSE '{USE_ACL}' END AS use
  FROM pg_shdepend s, db
  WHERE s.refclassid = 'pg_authid'::regclass
    AND (s.dbid = db.oid
         OR (s.dbid = 0 AND s.classid = 'pg_database'::regclass AND s.objid = db.oid))
  UNION SELECT d.datdba, '{USE_DATABASE_OWNER}' FROM pg_database d, db WHERE d.oid = db.oid
  UNION SELECT a.grantee, '{USE_DATABASE_ACL}'
        FROM pg_database d, db, aclexplode(d.datacl) a WHERE d.oid = db.oid AND a.grantee <> 0
  UNION SELECT r.setrole, '{USE_DATABASE_SETTING}'
        FROM pg_db_role_setting r, db WHERE r.setdatabase = db.oid AND r.setrole <> 0
  UNION SELECT {BOOTSTRAP_SUPERUSER_OID}, '{USE_OWNER}' WHERE EXISTS (
        SELECT FROM pg_class WHERE relowner = 10 AND oid >= {FIRST_NORMAL_OID}
        UNION ALL SELECT FROM pg_namespace WHERE nspowner = 10 AND oid >= {FIRST_NORMAL_OID}
        UNION ALL SELECT FROM pg_proc WHERE proowner = 10 AND oid >= {FIRST_NORMAL_OID}
        UNION ALL SELECT FROM pg_type WHERE typowner = 10 AND oid >= {FIRST_NORMAL_OID}
        UNION ALL SELECT FROM pg_extension WHERE extowner = 10 AND oid >= {FIRST_NORMAL_OID}
        UNION ALL SELECT FROM pg_collation WHERE collowner = 10 AND oid >= {FIRST_NORMAL_OID}
        UNION ALL SELECT FROM pg_operator WHERE oprowner = 10 AND oid >= {FIRST_NORMAL_OID}
        UNION ALL SELECT FROM pg_ts_config WHERE cfgowner = 10 AND oid >= {FIRST_NORMAL_OID}
        UNION ALL SELECT FROM pg_ts_dict WHERE dictowner = 10 AND oid >= {FIRST_NORMAL_OID}
        UNION ALL SELECT FROM pg_event_trigger WHERE evtowner = 10
        UNION ALL SELECT FROM pg_publication WHERE pubowner = 10
        UNION ALL SELECT FROM pg_foreign_data_wrapper WHERE fdwowner = 10
        UNION ALL SELECT FROM pg_foreign_server WHERE srvowner = 10
        UNION ALL SELECT FROM pg_largeobject_metadata WHERE lomowner = 10
        UNION ALL SELECT FROM pg_default_acl WHERE defaclrole = 10
        UNION ALL SELECT FROM pg_policy WHERE 10 = ANY (polroles))
),
refs AS (SELECT DISTINCT role FROM uses
         WHERE role >= {FIRST_NORMAL_OID} OR role = {BOOTSTRAP_SUPERUSER_OID}),
closure(role) AS (
  SELECT role FROM refs
  UNION SELECT m.member FROM pg_auth_members m JOIN closure c ON m.roleid = c.role
)
SELECT c.role, coalesce(array_agg(DISTINCT u.use) FILTER (WHERE u.use IS NOT NULL),
                        ARRAY['{USE_MEMBER}'])
FROM closure c LEFT JOIN uses u ON u.role = c.role
GROUP BY c.role
"""

_ROLE_COLUMNS = """rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit,
    rolreplication, rolbypassrls, rolconnlimit,
    to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def _attributes(row: tuple[Any, ...]) -> RoleAttributes:
    return RoleAttributes(login=row[1], superuser=row[2], createdb=row[3], createrole=row[4],
                          inherit=row[5], replication=row[6], bypassrls=row[7],
                          connection_limit=int(row[8]), valid_until=row[9])


def read_server_objects(conn: psycopg2.extensions.connection) -> ServerObjects:
    """Everything the connected database needs from its server, read on `conn` (in its
    transaction, so inside the dump's snapshot). Verifiers are read when the connected
    role may read pg_authid; a role that may not is no error, only not captured."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version'), "
                    "current_setting('server_version_num')::int / 10000, current_user, "
                    "has_table_privilege('pg_catalog.pg_authid', 'SELECT')")
        version, major, user, may_read_authid = _one(cur)
        cur.execute(_USES)
        uses = {int(oid): tuple(sorted(u)) for oid, u in cur.fetchall()}
        oids = sorted(uses)
        cur.execute(f"SELECT oid, {_ROLE_COLUMNS} FROM pg_roles WHERE oid = ANY(%s) ORDER BY 2",
                    (oids,))
        rows = {int(r[0]): r[1:] for r in cur.fetchall()}
        verifiers: dict[int, str | None] = {}
        if may_read_authid:
            cur.execute("SELECT oid, rolpassword FROM pg_authid WHERE oid = ANY(%s)", (oids,))
            verifiers = {int(o): p for o, p in cur.fetchall()}
        cur.execute("SELECT setrole, setconfig FROM pg_db_role_setting "
                    "WHERE setdatabase = 0 AND setrole = ANY(%s)", (oids,))
        role_settings = {int(o): tuple(c) for o, c in cur.fetchall()}
        cur.execute("SELECT pg_get_userbyid(roleid), pg_get_userbyid(member), admin_option "
                    "FROM pg_auth_members WHERE member = ANY(%s) "
                    "AND (roleid = ANY(%s) OR roleid < %s) ORDER BY 1, 2",
                    (oids, oids, FIRST_NORMAL_OID))
        memberships = tuple(Membership(r, m, bool(a)) for r, m, a in cur.fetchall())
        cur.execute("SELECT e.extname, e.extversion, n.nspname FROM pg_extension e "
                    "JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY 1")
        extensions = tuple(Extension(*r) for r in cur.fetchall())
        database = _database(cur)
    not_read = (f"the backup's role {user} may not read pg_authid (superuser only): create "
                "a password after the restore")
    roles = tuple(
        Role(name=row[0], attributes=_attributes(row),
             password=Password.of(verifiers.get(oid)) if may_read_authid else Password(
                 PasswordState.NOT_CAPTURED, reason=not_read),
             settings=role_settings.get(oid, ()), uses=uses[oid])
        for oid, row in sorted(rows.items(), key=lambda item: item[1][0])
    )
    return ServerObjects(server_version=version, server_major=int(major), captured_by=user,
                         database=database, roles=roles, memberships=memberships,
                         extensions=extensions)


def _one(cur: psycopg2.extensions.cursor) -> tuple[Any, ...]:
    row = cur.fetchone()
    assert row is not None
    return tuple(row)


def _database(cur: psycopg2.extensions.cursor) -> DatabaseProperties:
    # to_jsonb: the columns differ between major versions (datlocprovider from 15,
    # daticulocale in 15-16, datlocale from 17, daticurules from 16).
    cur.execute("SELECT to_jsonb(d), pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding),"
                " shobj_description(d.oid, 'pg_database') FROM pg_database d "
                "WHERE d.datname = current_database()")
    row, owner, encoding, comment = _one(cur)
    cur.execute("SELECT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,"
                " a.privilege_type, a.is_grantable FROM pg_database d, aclexplode(d.datacl) a "
                "WHERE d.datname = current_database() ORDER BY 1, 2")
    grants = tuple(Grant(*g) for g in cur.fetchall())
    cur.execute("SELECT setrole, pg_get_userbyid(setrole), setconfig FROM pg_db_role_setting "
                "WHERE setdatabase = (SELECT oid FROM pg_database "
                "WHERE datname = current_database()) ORDER BY 2")
    settings: tuple[str, ...] = ()
    per_role = []
    for oid, name, config in cur.fetchall():
        if int(oid) == 0:
            settings = tuple(config)
        else:
            per_role.append(RoleSettings(name, tuple(config)))
    provider = {"i": "icu", "b": "builtin"}.get(row.get("datlocprovider") or "c", "libc")
    return DatabaseProperties(
        name=row["datname"], owner=owner, encoding=encoding, collate=row["datcollate"],
        ctype=row["datctype"], locale_provider=provider,
        icu_locale=row.get("datlocale") or row.get("daticulocale"),
        icu_rules=row.get("daticurules"), connection_limit=int(row["datconnlimit"]),
        settings=settings, role_settings=tuple(per_role),
        grants=grants if row.get("datacl") is not None else None, comment=comment)


@dataclass(frozen=True)
class ExistingRole:
    attributes: RoleAttributes
    settings: tuple[str, ...] = ()


@dataclass(frozen=True)
class TargetFacts:
    """What a restore plan needs to know of the server it restores to."""

    server_version: str
    server_major: int
    current_user: str
    superuser: bool = True
    createrole: bool = True
    roles: Mapping[str, ExistingRole] = field(default_factory=dict)
    memberships: frozenset[tuple[str, str]] = frozenset()   # (role, member)
    member_of: frozenset[str] = frozenset()   # roles the restoring role may act as
    extensions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # versions
    locales: frozenset[str] = frozenset()     # libc locales, normalized (normal_locale)
    icu: bool = False
    settings: frozenset[str] = frozenset()    # configuration parameters it knows
    databases: frozenset[str] = frozenset()


def normal_locale(name: str) -> str:
    """en_US.UTF-8, en_US.utf8 and en_US.UTF8 are one locale."""
    base, dot, codeset = name.partition(".")
    return base + (("." + codeset.lower().replace("-", "")) if dot else "")


def read_target_facts(info: ConnInfo) -> TargetFacts:
    """The facts of the server `info` points at (its maintenance database is enough)."""
    with connection(info) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version'), "
                    "current_setting('server_version_num')::int / 10000, current_user, "
                    "rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        version, major, user, superuser, createrole = _one(cur)
        cur.execute(f"SELECT oid, {_ROLE_COLUMNS} FROM pg_roles")
        role_rows = cur.fetchall()
        cur.execute("SELECT setrole, setconfig FROM pg_db_role_setting WHERE setdatabase = 0")
        settings_of = {int(o): tuple(c) for o, c in cur.fetchall()}
        roles = {r[1]: ExistingRole(_attributes(r[1:]), settings_of.get(int(r[0]), ()))
                 for r in role_rows}
        cur.execute("SELECT pg_get_userbyid(roleid), pg_get_userbyid(member) "
                    "FROM pg_auth_members")
        memberships = frozenset((r, m) for r, m in cur.fetchall())
        cur.execute("SELECT rolname FROM pg_roles WHERE pg_has_role(current_user, oid, 'MEMBER')")
        member_of = frozenset(r for (r,) in cur.fetchall())
        cur.execute("SELECT name, array_agg(version::text) FROM pg_available_extension_versions "
                    "GROUP BY name")
        extensions = {n: tuple(v) for n, v in cur.fetchall()}
        cur.execute("SELECT collcollate FROM pg_collation WHERE collprovider = 'c' "
                    "AND collcollate IS NOT NULL UNION SELECT datcollate FROM pg_database "
                    "UNION SELECT datctype FROM pg_database")
        locales = frozenset({normal_locale(n) for (n,) in cur.fetchall()} | {"C", "POSIX"})
        cur.execute("SELECT EXISTS (SELECT FROM pg_collation WHERE collprovider = 'i')")
        icu = bool(_one(cur)[0])
        cur.execute("SELECT name FROM pg_settings")
        known = frozenset(n for (n,) in cur.fetchall())
        cur.execute("SELECT datname FROM pg_database")
        databases = frozenset(n for (n,) in cur.fetchall())
    return TargetFacts(server_version=version, server_major=int(major), current_user=user,
                       superuser=bool(superuser), createrole=bool(createrole), roles=roles,
                       memberships=memberships, member_of=member_of, extensions=extensions,
                       locales=locales, icu=icu, settings=known, databases=databases)
