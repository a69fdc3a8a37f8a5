"""Every user object of a database as identity -> definition text, read from the catalogs
with no OIDs, owners or ACLs in it, so that a faithful restore reads the same text back on
any server of the same major version.

Identities are `<kind> <quoted.qualified.name>` (quote_ident quoting), for example
`column shop.orders.note` or `function shop.line_total(integer, numeric)`. Objects that
belong to an extension are left out (the extension script makes them, in whatever version
the server has); so are objects PostgreSQL derives from others (array and row types,
constraints and triggers a partition inherits from its parent, internal triggers).
Operators, operator classes, casts, text search objects, foreign servers and publications
are not read. Owners, grants and policy roles are left to the role checks: a restore with
another owner or a role map is still the same schema.
"""

from __future__ import annotations

import psycopg2.extensions

from dr_assets.core.pg.queries import pinned

# Names and catalog expressions print qualified with every schema but pg_catalog, whatever
# the session's search_path, so the text does not depend on who reads it.
READING_SETTINGS = {"search_path": "pg_catalog"}

_USER_NAMESPACE = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'"""


def _not_member(catalog: str, oid: str) -> str:
    """Not created by an extension's script."""
    return (f"NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass"
            f" AND e.objid = {oid} AND e.deptype = 'e')")


_QNAME = "quote_ident(n.nspname) || '.' || quote_ident(c.relname)"
_NOTE = "coalesce(' comment ' || quote_literal(obj_description({oid}, '{catalog}')), '')"



def _of_tables(kind: str, catalog: str, name: str, table: str, definition: str,
               where: str = "TRUE") -> str:
    """The query of objects that belong to a table (alias o in `catalog`): identity
    `<kind> <schema>.<table>.<name>`."""
    return f"""SELECT '{kind} ' || {_QNAME} || '.' || quote_ident(o.{name}),
      {definition} || {_NOTE.format(oid='o.oid', catalog=catalog)}
    FROM {catalog} o
      JOIN pg_class c ON c.oid = o.{table}
      JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {where} AND {_USER_NAMESPACE} AND {_not_member('pg_class', 'c.oid')}"""


_QUERIES: tuple[str, ...] = (
    # Schemas.
    f"""SELECT 'schema ' || quote_ident(n.nspname), 'schema' || {_NOTE.format(oid='n.oid',
        catalog='pg_namespace')}
    FROM pg_namespace n WHERE {_USER_NAMESPACE} AND {_not_member('pg_namespace', 'n.oid')}""",
    # Extensions: present, and in which schema; their version is the target server's.
    """SELECT 'extension ' || quote_ident(x.extname), 'extension in ' || quote_ident(n.nspname)
    FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace""",
    # Types: enums (labels in order), domains, composites, ranges, base types.
    f"""SELECT 'type ' || quote_ident(n.nspname) || '.' || quote_ident(t.typname),
      CASE t.typtype
        WHEN 'e' THEN 'enum (' || (SELECT string_agg(quote_literal(e.enumlabel), ', '
                                       ORDER BY e.enumsortorder)
                                   FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
        WHEN 'd' THEN 'domain over ' || format_type(t.typbasetype, t.typtypmod)
          || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
          || coalesce(' default ' || t.typdefault, '')
          || coalesce(' collate ' || (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
                      FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                      WHERE co.oid = t.typcollation
                        AND t.typcollation <> (SELECT b.typcollation FROM pg_type b
                                               WHERE b.oid = t.typbasetype)), '')
          || coalesce((SELECT string_agg(' constraint ' || quote_ident(k.conname) || ' '
                                         || pg_get_constraintdef(k.oid), '' ORDER BY k.conname)
                       FROM pg_constraint k WHERE k.contypid = t.oid), '')
        WHEN 'c' THEN 'composite (' || (SELECT string_agg(quote_ident(a.attname) || ' '
                                            || format_type(a.atttypid, a.atttypmod), ', '
                                            ORDER BY a.attnum)
                                        FROM pg_attribute a WHERE a.attrelid = t.typrelid
                                          AND a.attnum > 0 AND NOT a.attisdropped) || ')'
        WHEN 'r' THEN (SELECT 'range of ' || format_type(r.rngsubtype, NULL)
                         || ' opclass ' || (SELECT quote_ident(ocn.nspname) || '.'
                                              || quote_ident(oc.opcname)
                                            FROM pg_opclass oc
                                            JOIN pg_namespace ocn ON ocn.oid = oc.opcnamespace
                                            WHERE oc.oid = r.rngsubopc)
                         || ' collation ' || r.rngcollation::regcollation::text
                         || ' canonical ' || r.rngcanonical::regproc::text
                         || ' subdiff ' || r.rngsubdiff::regproc::text
                         || ' multirange ' || r.rngmultitypid::regtype::text
                       FROM pg_range r WHERE r.rngtypid = t.oid)
        ELSE 'base ' || t.typlen || ' ' || t.typinput::regproc::text || ' '
             || t.typoutput::regproc::text || ' ' || t.typalign::text || t.typstorage::text
      END || {_NOTE.format(oid='t.oid', catalog='pg_type')}
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE {_USER_NAMESPACE} AND {_not_member('pg_type', 't.oid')}
      AND t.typtype IN ('b', 'c', 'd', 'e', 'r')
      AND NOT (t.typtype = 'b' AND t.typelem <> 0 AND t.typlen = -1)
      AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')""",
    # Tables, views, materialized views, sequences, foreign tables.
    f"""SELECT CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'matview '
                WHEN 'S' THEN 'sequence ' ELSE 'table ' END || {_QNAME},
      CASE c.relkind
        WHEN 'S' THEN (SELECT 'sequence ' || format_type(s.seqtypid, NULL) || ' start '
                         || s.seqstart || ' by ' || s.seqincrement || ' min ' || s.seqmin
                         || ' max ' || s.seqmax || ' cache ' || s.seqcache
                         || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END
                       FROM pg_sequence s WHERE s.seqrelid = c.oid)
             || coalesce((SELECT ' owned by ' || d.refobjid::regclass::text || '.'
                            || quote_ident(a.attname)
                          FROM pg_depend d JOIN pg_attribute a
                            ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                            AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                          LIMIT 1), '')
        ELSE c.relkind::text || ' ' || c.relpersistence::text
          || coalesce(' using ' || (SELECT am.amname FROM pg_am am WHERE am.oid = c.relam), '')
          || coalesce(' with ' || array_to_string(c.reloptions, ', '), '')
          || CASE WHEN c.relkind = 'p' THEN ' partition by ' || pg_get_partkeydef(c.oid) ELSE '' END
          || CASE WHEN c.relispartition THEN ' ' || pg_get_expr(c.relpartbound, c.oid) ELSE '' END
          || coalesce(' inherits ' || (SELECT string_agg(i.inhparent::regclass::text, ', '
                                                         ORDER BY i.inhseqno)
                                       FROM pg_inherits i WHERE i.inhrelid = c.oid), '')
          || CASE WHEN c.relrowsecurity THEN ' row security' ELSE '' END
          || CASE WHEN c.relforcerowsecurity THEN ' forced' ELSE '' END
          || ' replica identity ' || c.relreplident::text
          || coalesce(' ' || (SELECT quote_ident(ic.relname) FROM pg_index x
                              JOIN pg_class ic ON ic.oid = x.indexrelid
                              WHERE x.indrelid = c.oid AND x.indisreplident), '')
          || coalesce(' server ' || (SELECT quote_ident(fs.srvname) || coalesce(' '
                                       || array_to_string(ft.ftoptions, ', '), '')
                                     FROM pg_foreign_table ft
                                     JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
                                     WHERE ft.ftrelid = c.oid), '')
          || ' (' || coalesce((SELECT string_agg(quote_ident(a.attname)
                                 || CASE WHEN c.relkind IN ('v', 'm')
                                         THEN ' ' || format_type(a.atttypid, a.atttypmod)
                                         ELSE '' END, ', ' ORDER BY
                                   -- pg_dump recreates an inheritance child with its
                                   -- parents' columns first, not in the order it had
                                   CASE WHEN c.relispartition OR NOT EXISTS (
                                          SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
                                        THEN a.attnum END, a.attname)
                               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                                 AND NOT a.attisdropped), '') || ')'
          || CASE WHEN c.relkind IN ('v', 'm') THEN ' as ' || pg_get_viewdef(c.oid) ELSE '' END
      END || {_NOTE.format(oid='c.oid', catalog='pg_class')}
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND {_USER_NAMESPACE}
      AND {_not_member('pg_class', 'c.oid')}""",
    # Columns of tables: type, nullability, default, generated, identity, collation, storage.
    f"""SELECT 'column ' || {_QNAME} || '.' || quote_ident(a.attname),
      format_type(a.atttypid, a.atttypmod)
        || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
        || coalesce(CASE WHEN a.attgenerated = 's' THEN ' generated as ' ELSE ' default ' END
                    || pg_get_expr(d.adbin, d.adrelid), '')
        || CASE a.attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default'
                ELSE '' END
        || CASE WHEN a.attcollation <> t.typcollation
                THEN ' collate ' || a.attcollation::regcollation::text ELSE '' END
        || CASE WHEN a.attstorage <> t.typstorage THEN ' storage ' || a.attstorage::text ELSE '' END
        || CASE WHEN a.attcompression <> '' THEN ' compression ' || a.attcompression::text ELSE '' END
        || coalesce(' options ' || (SELECT string_agg(o, ', ' ORDER BY o) FROM unnest(a.attoptions) o
                                    WHERE o ~ '^n_distinct(_inherited)?='), '')
        || coalesce(' fdw options ' || array_to_string(a.attfdwoptions, ', '), '')
        || coalesce(' comment ' || quote_literal(col_description(c.oid, a.attnum)), '')
    FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relkind IN ('r', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped
      AND {_USER_NAMESPACE} AND {_not_member('pg_class', 'c.oid')}""",
    # Table constraints, except the copies a partition inherits from its parent's.
    _of_tables("constraint", "pg_constraint", "conname", "conrelid",
               "o.contype::text || ' ' || pg_get_constraintdef(o.oid)", "o.conparentid = 0"),
    # Indexes; like pg_dump, an invalid index (a failed CREATE INDEX CONCURRENTLY) is no part
    # of the schema.
    f"""SELECT 'index ' || {_QNAME} || '.' || quote_ident(ic.relname),
      pg_get_indexdef(x.indexrelid) || CASE WHEN x.indisclustered THEN ' clustered' ELSE '' END
        || {_NOTE.format(oid='ic.oid', catalog='pg_class')}
    FROM pg_index x
      JOIN pg_class ic ON ic.oid = x.indexrelid
      JOIN pg_class c ON c.oid = x.indrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE (x.indisvalid OR c.relkind = 'p') AND {_USER_NAMESPACE}
      AND {_not_member('pg_class', 'c.oid')}""",
    # Functions, procedures and aggregates, by their identity arguments.
    f"""SELECT CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate '
                ELSE 'function ' END
             || quote_ident(n.nspname) || '.' || quote_ident(p.proname)
             || '(' || pg_get_function_identity_arguments(p.oid) || ')',
      CASE WHEN p.prokind = 'a' THEN
        (SELECT 'aggregate ' || g.aggkind::text || ' sfunc ' || g.aggtransfn::regprocedure::text
           || ' stype ' || format_type(g.aggtranstype, NULL)
           || coalesce(' initcond ' || quote_literal(g.agginitval), '')
           || CASE WHEN g.aggfinalfn <> 0 THEN ' final ' || g.aggfinalfn::regprocedure::text
                   ELSE '' END
           || CASE WHEN g.aggcombinefn <> 0 THEN ' combine ' || g.aggcombinefn::regprocedure::text
                   ELSE '' END
           || CASE WHEN g.aggsortop <> 0 THEN ' sortop ' || g.aggsortop::regoperator::text
                   ELSE '' END
           || ' returns ' || format_type(p.prorettype, NULL) || ' ' || p.proparallel::text
         FROM pg_aggregate g WHERE g.aggfnoid = p.oid)
      ELSE pg_get_functiondef(p.oid) END
        || {_NOTE.format(oid='p.oid', catalog='pg_proc')}
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE {_USER_NAMESPACE} AND {_not_member('pg_proc', 'p.oid')}""",
    # Triggers, except internal ones (foreign keys) and a partition's copies of its parent's.
    _of_tables("trigger", "pg_trigger", "tgname", "tgrelid",
               "pg_get_triggerdef(o.oid) || ' enabled ' || o.tgenabled::text",
               "NOT o.tgisinternal AND o.tgparentid = 0"),
    # Row-level security policies; the roles they apply to are the role checks' business.
    _of_tables("policy", "pg_policy", "polname", "polrelid",
               """'policy ' || o.polcmd::text
                  || CASE WHEN o.polpermissive THEN ' permissive' ELSE ' restrictive' END
                  || coalesce(' using ' || pg_get_expr(o.polqual, o.polrelid), '')
                  || coalesce(' check ' || pg_get_expr(o.polwithcheck, o.polrelid), '')"""),
    # Rules, except the _RETURN rule that is a view's definition.
    _of_tables("rule", "pg_rewrite", "rulename", "ev_class",
               "pg_get_ruledef(o.oid) || ' enabled ' || o.ev_enabled::text",
               "o.rulename <> '_RETURN'"),
    # Extended statistics objects.
    f"""SELECT 'statistics ' || quote_ident(n.nspname) || '.' || quote_ident(s.stxname),
      pg_get_statisticsobjdef(s.oid) || {_NOTE.format(oid='s.oid', catalog='pg_statistic_ext')}
    FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
    WHERE {_USER_NAMESPACE} AND {_not_member('pg_statistic_ext', 's.oid')}""",
    # Collations; the version of the library behind one is the server's, not the schema's.
    f"""SELECT 'collation ' || quote_ident(n.nspname) || '.' || quote_ident(o.collname),
      (to_jsonb(o) - ARRAY['oid', 'collname', 'collnamespace', 'collowner', 'collversion'])::text
        || {_NOTE.format(oid='o.oid', catalog='pg_collation')}
    FROM pg_collation o JOIN pg_namespace n ON n.oid = o.collnamespace
    WHERE {_USER_NAMESPACE} AND {_not_member('pg_collation', 'o.oid')}""",
    # Event triggers (database-wide).
    f"""SELECT 'event_trigger ' || quote_ident(v.evtname),
      v.evtevent || ' ' || v.evtfoid::regprocedure::text || ' enabled ' || v.evtenabled::text
        || coalesce(' tags ' || array_to_string(v.evttags, ', '), '')
    FROM pg_event_trigger v WHERE {_not_member('pg_event_trigger', 'v.oid')}""",
)


def object_definitions(conn: psycopg2.extensions.connection) -> dict[str, str]:
    """identity -> definition of every user object, read in the session's current snapshot
    (inside a transaction already open, in a savepoint; else in a read-only one of its own).
    Like pg_dump, the pg_get_*def functions read the newest catalog entries, not the
    snapshot's; pg_dump's locks keep tables from changing under a backup meanwhile."""
    found: dict[str, str] = {}
    with pinned(conn, READING_SETTINGS) as cur:
        for query in _QUERIES:
            cur.execute(query)
            for identity, definition in cur.fetchall():
                found[identity] = definition
    return found
