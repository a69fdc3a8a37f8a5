"""An application database that needs its server: owned by an app role, with a read-only
role and a login member of it, grants, row-level security, default privileges, database
and per-role settings, a non-default collation and contrib extensions; and the picture of
a database and its roles that restore tests compare (owners, ACLs, policies, settings).

Roles are server-wide: each OwnedApp has random role names and drops them afterwards."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import psycopg2
from psycopg2 import sql

from tests.support.pg import PG_URL, admin_exec, drop_db, run_sql

EXTENSIONS = ("pg_trgm", "citext")


def available_extensions(server: str = PG_URL) -> set[str]:
    rows = run_sql("postgres", "SELECT name FROM pg_available_extensions", server)
    return {str(r[0]) for r in rows}


def icu_available(server: str = PG_URL) -> bool:
    rows = run_sql("postgres", "SELECT count(*) FROM pg_collation WHERE collprovider = 'i'",
                   server)
    return int(str(rows[0][0])) > 0


@dataclass
class OwnedApp:
    """The source database and its roles on the local server."""

    db: str
    app: str        # owns the database and every object
    ro: str         # read-only: grants, a policy, default privileges, settings in the database
    alice: str      # logs in, a member of ro
    extensions: tuple[str, ...]
    icu: bool

    @property
    def roles(self) -> tuple[str, str, str]:
        return self.app, self.ro, self.alice

    @classmethod
    def create(cls) -> OwnedApp:
        tag = f"drt{secrets.token_hex(3)}"
        extensions = tuple(e for e in EXTENSIONS if e in available_extensions())
        made = cls(db=f"{tag}_owned", app=f"{tag}_app", ro=f"{tag}_ro", alice=f"{tag}_alice",
                   extensions=extensions, icu=icu_available())
        made._build()
        return made

    def _build(self) -> None:
        app, ro, alice, db = (sql.Identifier(x) for x in (self.app, self.ro, self.alice,
                                                           self.db))
        admin_exec(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'app-secret' CONNECTION LIMIT 20 "
                           "CREATEDB").format(app))
        admin_exec(sql.SQL("CREATE ROLE {} NOLOGIN").format(ro))
        admin_exec(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'alice-secret' IN ROLE {}").format(
            alice, ro))
        admin_exec(sql.SQL("ALTER ROLE {} SET application_name = 'alice-app'").format(alice))
        locale = sql.SQL(" LOCALE_PROVIDER icu ICU_LOCALE 'en-US'" if self.icu else "")
        admin_exec(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8' "
                           "LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'{} CONNECTION LIMIT 50").format(
            db, app, locale))
        for statement in (
            "ALTER DATABASE {db} SET work_mem = '8MB'",
            "ALTER DATABASE {db} SET search_path = app, \"$user\", public",
            "ALTER ROLE {ro} IN DATABASE {db} SET statement_timeout = '5s'",
            "COMMENT ON DATABASE {db} IS 'the app''s data'",
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC",
            "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {ro}",
        ):
            admin_exec(sql.SQL(statement).format(db=db, ro=ro))
        for ext in self.extensions:
            run_sql(self.db, sql.SQL("CREATE EXTENSION {}").format(sql.Identifier(ext)))
        text_type = "citext" if "citext" in self.extensions else "text"
        statements = [
            "SET ROLE {app}",
            "CREATE SCHEMA app",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO {ro}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT USAGE ON SEQUENCES TO {ro}",
            "ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC",
            f"CREATE TABLE app.customers (id serial PRIMARY KEY, email {text_type} NOT NULL, "
            "name text COLLATE \"C\" NOT NULL, region text NOT NULL)",
            "CREATE TABLE app.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "customer_id int REFERENCES app.customers, total numeric(10,2))",
            "CREATE VIEW app.totals AS SELECT customer_id, sum(total) AS total "
            "FROM app.orders GROUP BY 1",
            "CREATE FUNCTION app.region_of(int) RETURNS text LANGUAGE sql STABLE "
            "AS 'SELECT region FROM app.customers WHERE id = $1'",
            "GRANT USAGE ON SCHEMA app TO {ro}",
            "GRANT EXECUTE ON FUNCTION app.region_of(int) TO {ro}",
            "GRANT UPDATE (name) ON app.customers TO {ro}",
            "ALTER TABLE app.customers ENABLE ROW LEVEL SECURITY",
            "CREATE POLICY eu_only ON app.customers FOR SELECT TO {ro} USING (region = 'eu')",
            "CREATE POLICY owner_all ON app.customers TO {app} USING (true)",
            "INSERT INTO app.customers (email, name, region) SELECT 'C' || g || '@Example.com', "
            "'name ' || g, CASE WHEN g % 3 = 0 THEN 'us' ELSE 'eu' END "
            "FROM generate_series(1, 500) g",
            "INSERT INTO app.orders (customer_id, total) SELECT 1 + g % 500, g / 7.0 "
            "FROM generate_series(1, 2000) g",
        ]
        if "pg_trgm" in self.extensions:
            statements.append("CREATE INDEX customers_name_trgm ON app.customers "
                              "USING gin (name gin_trgm_ops)")
        conn = psycopg2.connect(f"{PG_URL}/{self.db}")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for statement in statements:  # one session: SET ROLE holds for the rest
                    cur.execute(sql.SQL(statement).format(app=app, ro=ro))
        finally:
            conn.close()

    def drop(self) -> None:
        drop_db(self.db)
        for role in (self.alice, self.ro, self.app):
            admin_exec(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


_PICTURE = {
    "owners": """
        SELECT 'rel', c.oid::regclass::text, pg_get_userbyid(c.relowner) FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'app'
        UNION ALL SELECT 'schema', nspname, pg_get_userbyid(nspowner) FROM pg_namespace
          WHERE nspname IN ('app', 'public')
        UNION ALL SELECT 'routine', p.oid::regprocedure::text, pg_get_userbyid(p.proowner)
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'app'
        UNION ALL SELECT 'type', t.oid::regtype::text, pg_get_userbyid(t.typowner)
          FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'app'
        UNION ALL SELECT 'extension', extname, pg_get_userbyid(extowner) FROM pg_extension
        ORDER BY 1, 2""",
    "acls": """
        SELECT c.oid::regclass::text, c.relacl::text FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'app'
        UNION ALL SELECT attrelid::regclass::text || '.' || attname, attacl::text
          FROM pg_attribute WHERE attacl IS NOT NULL
        UNION ALL SELECT 'schema ' || nspname, nspacl::text FROM pg_namespace
          WHERE nspname IN ('app', 'public')
        UNION ALL SELECT p.oid::regprocedure::text, p.proacl::text FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'app'
        ORDER BY 1""",
    "default_acls": """
        SELECT pg_get_userbyid(d.defaclrole), coalesce(n.nspname, ''), d.defaclobjtype::text,
               d.defaclacl::text
        FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
        ORDER BY 1, 2, 3""",
    "policies": """
        SELECT schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check
        FROM pg_policies ORDER BY 1, 2, 3""",
    "row_security": """
        SELECT c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'app' AND c.relkind = 'r'
        ORDER BY 1""",
}


def picture(db: str, roles: tuple[str, ...], server: str = PG_URL) -> dict[str, Any]:
    """What a faithful restore keeps, in names (never OIDs): every owner, ACL, policy and
    default privilege in the database; its own properties, grants, comment and settings;
    the roles' attributes, password verifiers and memberships."""
    out: dict[str, Any] = {k: run_sql(db, q, server) for k, q in _PICTURE.items()}
    [database] = run_sql("postgres", sql.SQL("""
        SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype,
               datlocprovider::text, daticulocale, datconnlimit,
               shobj_description(oid, 'pg_database'),
               array(SELECT (CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)
                             END) || ' ' || a.privilege_type || ' ' || a.is_grantable
                     FROM aclexplode(datacl) a ORDER BY 1)
        FROM pg_database WHERE datname = {}""").format(sql.Literal(db)), server)
    out["database"] = database
    out["database_settings"] = run_sql("postgres", sql.SQL("""
        SELECT coalesce(pg_get_userbyid(nullif(setrole, 0)), ''), setconfig::text
        FROM pg_db_role_setting
        WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = {})
           OR (setdatabase = 0 AND pg_get_userbyid(setrole) = ANY ({}))
        ORDER BY 1, 2""").format(sql.Literal(db), sql.Literal(list(roles))), server)
    out["roles"] = run_sql("postgres", sql.SQL("""
        SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
               rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil, rolpassword
        FROM pg_authid WHERE rolname = ANY ({}) ORDER BY 1""").format(
        sql.Literal(list(roles))), server)
    out["memberships"] = run_sql("postgres", sql.SQL("""
        SELECT pg_get_userbyid(roleid), pg_get_userbyid(member), admin_option
        FROM pg_auth_members
        WHERE pg_get_userbyid(roleid) = ANY ({0}) OR pg_get_userbyid(member) = ANY ({0})
        ORDER BY 1, 2""").format(sql.Literal(list(roles))), server)
    return out


def renamed(value: Any, mapping: dict[str, str]) -> Any:
    """A picture with role names replaced, for comparing a --role-map restore."""
    if isinstance(value, str):
        for old, new in mapping.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: renamed(v, mapping) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(renamed(v, mapping) for v in value)
    return value
