"""Carrying out a restore plan on the target server: the roles and memberships before the
load, the database with its own properties, and after pg_restore the hand-over of mapped
roles' objects and privileges and the database's settings, grants and comment.

pg_restore cannot rename roles, so `--role-map OLD=NEW` restores with OLD created for the
length of the restore (NOLOGIN, owning nothing anywhere else), then in the restored
database hands everything of OLD to NEW: REASSIGN OWNED (safe here: OLD owns nothing in
other databases and no shared object), its grants, policies and default privileges
re-granted to NEW, DROP OWNED, and OLD dropped. `--owner NAME` restores with --no-owner
as a temporary NOLOGIN superuser role and hands its objects to NAME the same way. Roles
created from the backup are dropped again if the restore fails.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from dr_assets.core.copies.locate import candidate_stores
from dr_assets.core.errors import DRError, IntegrityError, RestoreError, StoreError
from dr_assets.core.format.keys import Keyring
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.format.server_objects import DatabaseProperties, ServerObjects, unseal
from dr_assets.core.names import check_database_name
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import create_database
from dr_assets.core.pg.server_objects import read_target_facts
from dr_assets.core.pg.sessions import connection
from dr_assets.core.restore.plan import (
    RestoreOptions,
    RestorePlan,
    RoleToCreate,
    plan_restore,
)
from dr_assets.core.stores.base import Store

# Parameters whose value is a list of quoted items (as pg_dumpall quotes them).
LIST_SETTINGS = frozenset({"local_preload_libraries", "search_path", "session_preload_libraries",
                           "shared_preload_libraries", "temp_tablespaces",
                           "unix_socket_directories"})
PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES",
                        "TRIGGER", "USAGE", "EXECUTE", "CREATE", "CONNECT", "TEMPORARY",
                        "MAINTAIN"})
DEFAULT_ACL_KINDS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES",
                     "n": "SCHEMAS"}
# What the restoring session keeps out of the server's logs while it sets role passwords.
QUIET = ("SET LOCAL log_statement = 'none'", "SET LOCAL log_min_duration_statement = -1",
         "SET LOCAL log_min_error_statement = 'panic'",
         "SET LOCAL pg_stat_statements.track_utility = off")


def load_server_objects(manifest: BackupManifest, stores: list[Store],
                        data_key: bytes) -> ServerObjects | None:
    """The backup's server objects from the first copy whose object is intact; None for a
    version-1 backup, which has none."""
    stored = manifest.server_objects
    if stored is None:
        return None
    problems = []
    for store in candidate_stores(manifest, stores):
        try:
            return unseal(store.iter_object(stored.key), data_key, stored.sha256,
                          f"server objects of {manifest.backup_id} on {store.describe(stored.key)}")
        except (IntegrityError, StoreError) as exc:
            problems.append(str(exc))
    raise RestoreError(f"no good copy of the server objects of {manifest.backup_id}: "
                       + "; ".join(problems) + ": restore an older backup")


def plan_for(manifest: BackupManifest, objects: ServerObjects | None, target: ConnInfo,
             target_db: str, options: RestoreOptions, replace_existing: bool = False
             ) -> RestorePlan:
    """The plan against the facts read from the target now."""
    return plan_restore(objects, read_target_facts(target), backup_id=manifest.backup_id,
                        source_version=manifest.server_version,
                        target_server=f"{target.host}:{target.port}", target_db=target_db,
                        options=options, replace_existing=replace_existing)


def plan_of_backup(manifest: BackupManifest, *, target: ConnInfo, target_db: str,
                   stores: list[Store], keyring: Keyring, options: RestoreOptions,
                   replace_existing: bool = False) -> RestorePlan:
    """What restoring `manifest` onto `target` would do; reads, changes nothing."""
    check_database_name(target_db)
    data_key = keyring.data_key(manifest.encryption.key_id, manifest.encryption.wrapped_key,
                           manifest.backup_id)
    objects = load_server_objects(manifest, stores, data_key)
    return plan_for(manifest, objects, target, target_db, options, replace_existing)


@dataclass
class ServerSetup:
    """One restore's server steps, in the order the restore takes them."""

    plan: RestorePlan
    objects: ServerObjects | None
    options: RestoreOptions
    handover: str | None = None           # --owner: the role objects are restored as
    created: list[str] = field(default_factory=list)
    temporary: list[str] = field(default_factory=list)
    seconds: float = 0.0                  # spent planning and on the roles and properties

    @property
    def restore_args(self) -> list[str]:
        args = ["--no-owner"] if self.options.no_owner else []
        return args + (["--role", self.handover] if self.handover else [])

    @property
    def accepted_losses(self) -> list[str]:
        return [loss.message for loss in self.plan.losses]

    @contextmanager
    def roles_in_place(self, target: ConnInfo) -> Iterator[None]:
        """The plan's roles exist for the block; those made only for the restore are
        dropped after it, and those made from the backup too if it fails."""
        with self._timed():
            self._create_roles(target)
        try:
            yield
        except BaseException:
            with suppress(DRError, psycopg2.Error):
                drop_roles(target, [*self.temporary, *self.created])
            raise
        with self._timed():
            drop_roles(target, self.temporary)

    def create_database(self, target: ConnInfo, name: str) -> None:
        # Not counted in `seconds`: every restore creates its database, planned or not.
        if self.plan.database is None:
            create_database(target, name)  # a version-1 backup: as it always was
        else:
            create_planned_database(target, name, self.plan.database)

    def finish(self, target: ConnInfo, name: str) -> None:
        """After pg_restore: mapped roles and --owner handed over, then the database's own
        settings, grants, comment and connection limit."""
        with self._timed():
            # Only the mapped roles the restore needed exist (--no-owner needs fewer).
            mapped = [(old, new) for old, new in self.options.role_map if old in self.temporary]
            if mapped or self.handover:
                with _step(f"handing the restored objects over in {name}"), connection(
                        target.with_db(name), autocommit=False) as conn:
                    with conn.cursor() as cur:
                        for old, new in mapped:
                            hand_over(cur, old, new)
                        if self.handover is not None and self.options.owner is not None:
                            cur.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                                sql.Identifier(self.handover),
                                sql.Identifier(self.options.owner)))
                            cur.execute(sql.SQL("DROP OWNED BY {}").format(
                                sql.Identifier(self.handover)))
                    conn.commit()
            if self.plan.database is not None:
                finish_planned_database(target, name, self.plan.database)

    @contextmanager
    def _timed(self) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.seconds += time.monotonic() - t0

    def _create_roles(self, target: ConnInfo) -> None:
        roles = list(self.plan.roles_to_create)
        if self.options.owner:
            self.handover = f"dr_restore_owner_{secrets.token_hex(4)}"
        if not (roles or self.plan.memberships or self.handover):
            return
        with _step("creating the roles"), connection(target, autocommit=False) as conn:
            with conn.cursor() as cur:
                quiet(cur)
                for role in roles:
                    cur.execute(create_role_sql(role, self._verifier(role)))
                    for entry in role.settings:
                        cur.execute(sql.SQL("ALTER ROLE {} SET ").format(
                            sql.Identifier(role.name)) + setting_sql(entry))
                for m in self.plan.memberships:
                    cur.execute(sql.SQL("GRANT {} TO {}").format(
                        sql.Identifier(m.role), sql.Identifier(m.member))
                        + sql.SQL(" WITH ADMIN OPTION" if m.admin_option else ""))
                if self.handover:
                    cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN SUPERUSER").format(
                        sql.Identifier(self.handover)))
            conn.commit()
        self.created = [r.name for r in roles if not r.temporary]
        self.temporary = [r.name for r in roles if r.temporary] + (
            [self.handover] if self.handover else [])

    def _verifier(self, role: RoleToCreate) -> str | None:
        if role.temporary or self.objects is None:
            return None
        captured = self.objects.role(role.name)
        return captured.password.verifier if captured is not None else None


def prepare_restore(manifest: BackupManifest, *, target: ConnInfo, target_db: str,
                    stores: list[Store], data_key: bytes, options: RestoreOptions
                    ) -> ServerSetup:
    """Plan the restore; refuses, changing nothing, when the plan has blockers, or losses
    that were not accepted."""
    t0 = time.monotonic()
    objects = load_server_objects(manifest, stores, data_key)
    return setup_for(objects, backup_id=manifest.backup_id,
                     source_version=manifest.server_version, target=target,
                     target_db=target_db, options=options, started=t0)


def setup_for(objects: ServerObjects | None, *, backup_id: str, source_version: str,
              target: ConnInfo, target_db: str, options: RestoreOptions,
              started: float | None = None) -> ServerSetup:
    """The plan of restoring a database whose server objects are `objects` onto `target`
    (a backup's, or those read from a recovered server); refuses, changing nothing, when
    it has blockers or losses that were not accepted."""
    t0 = time.monotonic() if started is None else started
    plan = plan_restore(objects, read_target_facts(target), backup_id=backup_id,
                        source_version=source_version,
                        target_server=f"{target.host}:{target.port}", target_db=target_db,
                        options=options)
    refusal = plan.refusal(options.accept_loss)
    if refusal is not None:
        raise RestoreError(refusal)
    return ServerSetup(plan=plan, objects=objects, options=options,
                       seconds=time.monotonic() - t0)


@contextmanager
def _step(what: str) -> Iterator[None]:
    """A server error as a RestoreError naming the step, with the server's first line
    only: never the statement, which may hold a password verifier."""
    try:
        yield
    except psycopg2.Error as exc:
        text = (exc.pgerror or str(exc)).strip()
        raise RestoreError(f"{what} failed: {text.splitlines()[0] if text else type(exc).__name__}"
                           ) from None


def quiet(cur: psycopg2.extensions.cursor) -> None:
    """Keep this transaction's statements (CREATE ROLE ... PASSWORD) out of the server's
    logs and pg_stat_statements, where the restoring role may say so (a superuser)."""
    cur.execute("SELECT current_setting('is_superuser') = 'on'")
    row = cur.fetchone()
    if row and row[0]:
        for statement in QUIET:
            cur.execute(statement)


def create_role_sql(role: RoleToCreate, verifier: str | None) -> sql.Composed:
    a = role.attributes
    words = ["LOGIN" if a.login else "NOLOGIN", "SUPERUSER" if a.superuser else "NOSUPERUSER",
             "CREATEDB" if a.createdb else "NOCREATEDB",
             "CREATEROLE" if a.createrole else "NOCREATEROLE",
             "INHERIT" if a.inherit else "NOINHERIT",
             "REPLICATION" if a.replication else "NOREPLICATION",
             "BYPASSRLS" if a.bypassrls else "NOBYPASSRLS"]
    statement = sql.SQL("CREATE ROLE {} WITH {} CONNECTION LIMIT {}").format(
        sql.Identifier(role.name), sql.SQL(" ".join(words)), sql.Literal(int(a.connection_limit)))
    if a.valid_until:
        statement += sql.SQL(" VALID UNTIL {}").format(sql.Literal(a.valid_until))
    if verifier:
        statement += sql.SQL(" PASSWORD {}").format(sql.Literal(verifier))
    return statement


def split_list_setting(value: str) -> list[str]:
    """The items of a list setting as PostgreSQL stores it (`app, "$user", public`)."""
    items, i, n = [], 0, len(value)
    while i < n:
        while i < n and value[i].isspace():
            i += 1
        if i >= n:
            break
        if value[i] == '"':
            i += 1
            buf = []
            while i < n:
                if value[i] == '"':
                    if i + 1 < n and value[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(value[i])
                i += 1
            items.append("".join(buf))
        else:
            j = i
            while j < n and value[j] != "," and not value[j].isspace():
                j += 1
            items.append(value[i:j])
            i = j
        while i < n and value[i].isspace():
            i += 1
        if i < n and value[i] == ",":
            i += 1
    return items


def setting_sql(entry: str) -> sql.Composed:
    """`name = value` of a stored "name=value" setting, quoted for SET."""
    name, _, value = entry.partition("=")
    ident = sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))
    if name in LIST_SETTINGS:
        items = split_list_setting(value)
        return ident + sql.SQL(" = ") + sql.SQL(", ").join(sql.Literal(x) for x in items)
    return ident + sql.SQL(" = ") + sql.Literal(value)


def create_planned_database(target: ConnInfo, name: str, db: DatabaseProperties) -> None:
    """CREATE DATABASE from template0 with the backup's owner, encoding and locale. The
    connection limit and settings come after the load (a limit of 1 or a setting such as
    default_transaction_read_only would stop pg_restore)."""
    statement = sql.SQL("CREATE DATABASE {} WITH OWNER {} TEMPLATE template0 ENCODING {} "
                        "LC_COLLATE {} LC_CTYPE {}").format(
        sql.Identifier(name), sql.Identifier(db.owner), sql.Literal(db.encoding),
        sql.Literal(db.collate), sql.Literal(db.ctype))
    if db.locale_provider == "icu":
        statement += sql.SQL(" LOCALE_PROVIDER icu ICU_LOCALE {}").format(
            sql.Literal(db.icu_locale))
        if db.icu_rules:
            statement += sql.SQL(" ICU_RULES {}").format(sql.Literal(db.icu_rules))
    elif db.locale_provider == "builtin":
        statement += sql.SQL(" LOCALE_PROVIDER builtin BUILTIN_LOCALE {}").format(
            sql.Literal(db.icu_locale))
    with _step(f"creating database {name}"), connection(target.with_db("postgres")) as conn, \
            conn.cursor() as cur:
        cur.execute(statement)


def finish_planned_database(target: ConnInfo, name: str, db: DatabaseProperties) -> None:
    ident = sql.Identifier(name)
    with _step(f"setting the properties of database {name}"), connection(
            target.with_db("postgres"), autocommit=False) as conn:
        with conn.cursor() as cur:
            for entry in db.settings:
                cur.execute(sql.SQL("ALTER DATABASE {} SET ").format(ident) + setting_sql(entry))
            for rs in db.role_settings:
                for entry in rs.settings:
                    cur.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET ").format(
                        sql.Identifier(rs.role), ident) + setting_sql(entry))
            if db.grants is not None:
                cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC, {}").format(
                    ident, sql.Identifier(db.owner)))
                for g in db.grants:
                    cur.execute(sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
                        sql.SQL(_privilege(g.privilege)), ident, _grantee(g.grantee),
                        sql.SQL(" WITH GRANT OPTION" if g.grantable else "")))
            if db.comment is not None:
                cur.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    ident, sql.Literal(db.comment)))
            if db.connection_limit != -1:
                cur.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
                    ident, sql.Literal(db.connection_limit)))
        conn.commit()


def _privilege(word: str) -> str:
    if word not in PRIVILEGES:
        raise RestoreError(f"unknown privilege {word!r} in the backup's server objects")
    return word


def _grantee(role: str | None) -> sql.Composable:
    return sql.SQL("PUBLIC") if role is None or role.upper() == "PUBLIC" else sql.Identifier(role)


_GRANTS_TO = """
WITH r AS (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass::text, NULL,
       a.privilege_type, a.is_grantable
  FROM pg_class c, aclexplode(c.relacl) a, r WHERE a.grantee = r.oid
UNION ALL
SELECT 'TABLE', t.attrelid::regclass::text, quote_ident(t.attname), a.privilege_type,
       a.is_grantable
  FROM pg_attribute t, aclexplode(t.attacl) a, r WHERE a.grantee = r.oid
UNION ALL
SELECT 'SCHEMA', quote_ident(n.nspname), NULL, a.privilege_type, a.is_grantable
  FROM pg_namespace n, aclexplode(n.nspacl) a, r WHERE a.grantee = r.oid
UNION ALL
SELECT 'ROUTINE', p.oid::regprocedure::text, NULL, a.privilege_type, a.is_grantable
  FROM pg_proc p, aclexplode(p.proacl) a, r WHERE a.grantee = r.oid
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype::text, NULL,
       a.privilege_type, a.is_grantable
  FROM pg_type t, aclexplode(t.typacl) a, r WHERE a.grantee = r.oid
UNION ALL
SELECT 'LANGUAGE', quote_ident(l.lanname), NULL, a.privilege_type, a.is_grantable
  FROM pg_language l, aclexplode(l.lanacl) a, r WHERE a.grantee = r.oid
UNION ALL
SELECT 'LARGE OBJECT', m.oid::text, NULL, a.privilege_type, a.is_grantable
  FROM pg_largeobject_metadata m, aclexplode(m.lomacl) a, r WHERE a.grantee = r.oid
UNION ALL
SELECT 'FOREIGN DATA WRAPPER', quote_ident(w.fdwname), NULL, a.privilege_type, a.is_grantable
  FROM pg_foreign_data_wrapper w, aclexplode(w.fdwacl) a, r WHERE a.grantee = r.oid
UNION ALL
SELECT 'FOREIGN SERVER', quote_ident(s.srvname), NULL, a.privilege_type, a.is_grantable
  FROM pg_foreign_server s, aclexplode(s.srvacl) a, r WHERE a.grantee = r.oid
"""

_POLICIES_OF = """
SELECT p.polname, p.polrelid::regclass::text,
       array(SELECT CASE WHEN x = 0 THEN NULL ELSE pg_get_userbyid(x) END
             FROM unnest(p.polroles) x)
FROM pg_policy p WHERE (SELECT oid FROM pg_roles WHERE rolname = %(role)s) = ANY (p.polroles)
"""

_DEFAULT_ACLS_OF = """
WITH r AS (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
SELECT d.defaclrole = r.oid, pg_get_userbyid(d.defaclrole), n.nspname, d.defaclobjtype,
       CASE a.grantee WHEN 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type, a.is_grantable
FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace,
     aclexplode(d.defaclacl) a, r
WHERE d.defaclrole = r.oid OR a.grantee = r.oid
"""

_HARD_WIRED = """
SELECT CASE a.grantee WHEN 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END, a.privilege_type,
       a.is_grantable
FROM aclexplode(acldefault(%(kind)s::"char", (SELECT oid FROM pg_roles WHERE rolname = %(role)s))) a
"""

Entry = tuple[str | None, str, bool]  # grantee (None: PUBLIC), privilege, grant option


def hand_over(cur: psycopg2.extensions.cursor, old: str, new: str) -> None:
    """Give everything the restored database holds for `old` to `new`, then drop `old`'s
    part in it; `old` is a role made for this restore alone."""
    o, n = sql.Identifier(old), sql.Identifier(new)
    cur.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(o, n))
    cur.execute(_GRANTS_TO, {"role": old})
    for kind, target, column, privilege, grantable in cur.fetchall():
        cur.execute(sql.SQL("GRANT {}{} ON {} {} TO {}{}").format(
            sql.SQL(_privilege(privilege)), sql.SQL(f" ({column})" if column else ""),
            sql.SQL(kind), sql.SQL(target), n,
            sql.SQL(" WITH GRANT OPTION" if grantable else "")))
    cur.execute(_POLICIES_OF, {"role": old})
    for name, table, roles in cur.fetchall():
        them = list(dict.fromkeys(new if r == old else r for r in roles))
        cur.execute(sql.SQL("ALTER POLICY {} ON {} TO {}").format(
            sql.Identifier(name), sql.SQL(table), sql.SQL(", ").join(_grantee(r) for r in them)))
    _hand_over_default_acls(cur, old, new)
    cur.execute(sql.SQL("DROP OWNED BY {}").format(o))


def _hand_over_default_acls(cur: psycopg2.extensions.cursor, old: str, new: str) -> None:
    cur.execute(_DEFAULT_ACLS_OF, {"role": old})
    rows = cur.fetchall()
    own: dict[tuple[str | None, str], set[Entry]] = {}
    for is_own, role, schema, kind, grantee, privilege, grantable in rows:
        entry = (new if grantee == old else grantee, privilege, bool(grantable))
        if is_own:
            own.setdefault((schema, kind), set()).add(entry)
        else:
            _alter_default(cur, role, schema, kind, "GRANT", (new, privilege, bool(grantable)))
    for (schema, kind), wanted in own.items():
        hard_wired: set[Entry] = set()
        if schema is None:  # a global entry replaces the built-in defaults: keep what it revoked
            cur.execute(_HARD_WIRED, {"kind": kind, "role": new})
            hard_wired = {(g, p, bool(x)) for g, p, x in cur.fetchall()}
        for entry in sorted(hard_wired - wanted, key=str):
            _alter_default(cur, new, schema, kind, "REVOKE", entry)
        for entry in sorted(wanted - hard_wired, key=str):
            _alter_default(cur, new, schema, kind, "GRANT", entry)


def _alter_default(cur: psycopg2.extensions.cursor, role: str, schema: str | None, kind: str,
                   verb: str, entry: Entry) -> None:
    grantee, privilege, grantable = entry
    statement = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}").format(sql.Identifier(role))
    if schema is not None:
        statement += sql.SQL(" IN SCHEMA {}").format(sql.Identifier(schema))
    statement += sql.SQL(" {} {} ON {} {} {}").format(
        sql.SQL(verb), sql.SQL(_privilege(privilege)), sql.SQL(DEFAULT_ACL_KINDS[kind]),
        sql.SQL("TO" if verb == "GRANT" else "FROM"), _grantee(grantee))
    if verb == "GRANT" and grantable:
        statement += sql.SQL(" WITH GRANT OPTION")
    cur.execute(statement)


def drop_roles(target: ConnInfo, names: list[str]) -> None:
    """Drop roles this restore made; the databases holding their objects are gone or were
    handed over, so nothing depends on them."""
    if not names:
        return
    with _step(f"dropping the roles made for the restore ({', '.join(names)})"), connection(
            target, autocommit=False) as conn:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.commit()
