"""Versioned DDL of the catalog schema `dr`; append, never edit, a migration.

A migration is SQL run in one transaction, or an OnlineMigration, run in steps while the
catalog is in use (for what cannot run in a transaction, CREATE INDEX CONCURRENTLY, or
must not hold a lock for long, a backfill)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OnlineMigration:
    """Steps run one after another, each safe to run again if an attempt was cut short:

    - `setup`, in one transaction (DDL that locks briefly: new tables, triggers);
    - `indexes` (name, definition after the name), each built with CREATE INDEX
      CONCURRENTLY (reads and writes go on), outside any transaction; one a failed attempt
      left invalid is dropped and built again;
    - `per_app`, in a transaction per app having backups (`%(app)s`), for backfills that
      lock one app's writers for the milliseconds its rows take;
    - `drop_indexes`, dropped CONCURRENTLY once what replaces them is built.
    """

    setup: str = ""
    per_app: str = ""
    indexes: tuple[tuple[str, str], ...] = ()
    drop_indexes: tuple[str, ...] = ()

    def statements(self) -> list[str]:
        """The same schema in plain statements, for a catalog nobody uses yet (no rows)."""
        return ([self.setup] if self.setup else []) + [
            f"CREATE INDEX IF NOT EXISTS {name} {definition}" for name, definition in self.indexes
        ] + [f"DROP INDEX IF EXISTS dr.{name}" for name in self.drop_indexes]


Migration = str | OnlineMigration

MIGRATIONS: list[Migration] = [
    # 1: backups, their copies, verifications and restores
    """
    CREATE TABLE dr.backups (
        backup_id        text PRIMARY KEY,
        app              text NOT NULL,
        status           text NOT NULL
                         CHECK (status IN ('running','completed','degraded','failed','deleted')),
        started_at       timestamptz NOT NULL,
        finished_at      timestamptz,
        duration_seconds double precision,
        raw_bytes        bigint,
        stored_bytes     bigint,
        sha256           text,
        key_id           text,
        dagster_run_id   text,
        partition_key    text,
        row_counts       jsonb,
        manifest         jsonb,
        error            text,
        updated_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX backups_app_started ON dr.backups (app, started_at DESC);
    CREATE INDEX backups_started ON dr.backups (started_at DESC);
    CREATE TABLE dr.backup_copies (
        backup_id    text NOT NULL REFERENCES dr.backups ON DELETE CASCADE,
        destination  text NOT NULL,
        status       text NOT NULL CHECK (status IN ('ok','failed')),
        stored_bytes bigint,
        location     text,
        error        text,
        uploaded_at  timestamptz,
        verified_at  timestamptz,
        verified_ok  boolean,
        verify_error text,
        PRIMARY KEY (backup_id, destination)
    );
    CREATE TABLE dr.verifications (
        id              bigserial PRIMARY KEY,
        backup_id       text NOT NULL,
        destination     text NOT NULL,
        ok              boolean NOT NULL,
        expected_sha256 text,
        actual_sha256   text,
        error           text,
        checked_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX verifications_backup ON dr.verifications (backup_id, checked_at DESC);
    CREATE TABLE dr.restores (
        id                 bigserial PRIMARY KEY,
        backup_id          text NOT NULL,
        app                text NOT NULL,
        target_database    text NOT NULL,
        mode               text NOT NULL,
        status             text NOT NULL CHECK (status IN ('running','succeeded','failed')),
        started_at         timestamptz NOT NULL DEFAULT now(),
        finished_at        timestamptz,
        duration_seconds   double precision,
        source_destination text,
        rows_validated     boolean,
        error              text,
        requested_by       text,
        dagster_run_id     text
    );
    CREATE INDEX restores_started ON dr.restores (started_at DESC);
    """,
]

MIGRATIONS.append(
    # 2: drills, alerts, and when a backup was deleted by retention
    """
    ALTER TABLE dr.backups ADD COLUMN deleted_at timestamptz;
    CREATE TABLE dr.drills (
        id                bigserial PRIMARY KEY,
        app               text NOT NULL,
        backup_id         text,
        scratch_database  text NOT NULL,
        status            text NOT NULL CHECK (status IN ('running','passed','failed')),
        started_at        timestamptz NOT NULL DEFAULT now(),
        finished_at       timestamptz,
        restore_seconds   double precision,
        rto_seconds       double precision NOT NULL,
        rto_met           boolean,
        rows_validated    boolean,
        tables            integer,
        row_total         bigint,
        scratch_dropped   boolean,
        error             text,
        dagster_run_id    text
    );
    CREATE INDEX drills_app_started ON dr.drills (app, started_at DESC);
    CREATE TABLE dr.alerts (
        id               bigserial PRIMARY KEY,
        app              text NOT NULL,
        kind             text NOT NULL,
        severity         text NOT NULL,
        status           text NOT NULL CHECK (status IN ('open','resolved')),
        message          text NOT NULL,
        opened_at        timestamptz NOT NULL DEFAULT now(),
        resolved_at      timestamptz,
        acknowledged_at  timestamptz,
        acknowledged_by  text,
        delivered_at     timestamptz,
        delivery_error   text
    );
    CREATE UNIQUE INDEX alerts_one_open ON dr.alerts (app, kind) WHERE status = 'open';
    CREATE VIEW dr.copy_checks AS
        SELECT DISTINCT ON (backup_id, destination) backup_id, destination, ok, checked_at, error
        FROM dr.verifications ORDER BY backup_id, destination, checked_at DESC, id DESC;
    CREATE VIEW dr.backup_checks AS
        SELECT b.backup_id, b.app, b.status, b.started_at, b.stored_bytes,
               coalesce(bool_or(c.ok), false) AS verified,
               coalesce(bool_or(NOT c.ok), false) AS check_failed,
               count(c.*) AS checks
        FROM dr.backups b LEFT JOIN dr.copy_checks c USING (backup_id)
        GROUP BY b.backup_id;
    """
)

MIGRATIONS.append(
    # 3: the append-only, hash-chained audit log
    """
    CREATE TABLE dr.audit_log (
        id         bigserial PRIMARY KEY,
        at         timestamptz NOT NULL,
        actor      text NOT NULL,
        role       text NOT NULL,
        action     text NOT NULL,
        arguments  jsonb NOT NULL,
        result     text NOT NULL,
        detail     text,
        prev_hash  text NOT NULL,
        hash       text NOT NULL UNIQUE
    );
    CREATE INDEX audit_log_action ON dr.audit_log (action, id DESC);
    CREATE FUNCTION dr.audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'dr.audit_log is append-only: % refused', TG_OP;
    END $$;
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON dr.audit_log
        FOR EACH ROW EXECUTE FUNCTION dr.audit_log_is_append_only();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON dr.audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION dr.audit_log_is_append_only();
    """
)

MIGRATIONS.append(
    # 4: keep each backup's verification state on its row (maintained by
    # record_verification from its copies' latest results), so dashboards read one table.
    """
    ALTER TABLE dr.backups ADD COLUMN IF NOT EXISTS verified boolean NOT NULL DEFAULT false,
                           ADD COLUMN IF NOT EXISTS check_failed boolean NOT NULL DEFAULT false,
                           ADD COLUMN IF NOT EXISTS checks integer NOT NULL DEFAULT 0;
    UPDATE dr.backups b SET verified = s.verified, check_failed = s.check_failed,
                            checks = s.checks
    FROM (SELECT backup_id, coalesce(bool_or(verified_ok), false) AS verified,
                 coalesce(bool_or(NOT verified_ok), false) AS check_failed,
                 count(verified_at) AS checks
          FROM dr.backup_copies GROUP BY backup_id) s
    WHERE s.backup_id = b.backup_id;
    DROP VIEW dr.backup_checks;
    CREATE VIEW dr.backup_checks AS
        SELECT backup_id, app, status, started_at, stored_bytes, verified, check_failed, checks
        FROM dr.backups;
    CREATE INDEX IF NOT EXISTS backups_app_status_started ON dr.backups (app, status, started_at DESC);
    CREATE INDEX IF NOT EXISTS alerts_open ON dr.alerts (status) WHERE status = 'open';
    """
)

# The channel migration 5 notifies on; a table added later needs its own trigger.
CHANGE_CHANNEL = "dr_catalog_changed"


def notify_trigger(table: str) -> str:
    """The change-feed trigger a catalog table added after migration 5 carries (idempotent)."""
    return f"""
    DROP TRIGGER IF EXISTS {table}_notify_change ON dr.{table};
    CREATE TRIGGER {table}_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
        ON dr.{table} FOR EACH STATEMENT EXECUTE FUNCTION dr.notify_change();
"""

MIGRATIONS.append(
    # 5: every committed write to the catalog says so on one channel (payload: the table),
    # so readers that cache answers (the API) drop them at once instead of waiting them out.
    """
    CREATE FUNCTION dr.notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('dr_catalog_changed', TG_TABLE_NAME);
        RETURN NULL;
    END $$;
    """
    + "".join(
        f"""
    CREATE TRIGGER {table}_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
        ON dr.{table} FOR EACH STATEMENT EXECUTE FUNCTION dr.notify_change();"""
        for table in ("backups", "backup_copies", "verifications", "restores", "drills",
                      "alerts", "audit_log")  # frozen with the migration
    )
)

MIGRATIONS.append(
    # 6: the backups listing (newest first, keyset on (started_at, backup_id)) reads its page
    # in index order instead of sorting each page.
    """
    CREATE INDEX IF NOT EXISTS backups_listing ON dr.backups (started_at DESC, backup_id DESC)
        WHERE status <> 'deleted';
    """
)

MIGRATIONS.append(
    # 7: where each drill ran: on an empty throwaway server of the backup's major version
    # ('isolated', with its start-up time and version) or beside the app's own database
    # ('same_server', where every drill before this migration ran).
    """
    ALTER TABLE dr.drills
        ADD COLUMN IF NOT EXISTS target text NOT NULL DEFAULT 'same_server'
            CHECK (target IN ('isolated', 'same_server')),
        ADD COLUMN IF NOT EXISTS instance_start_seconds double precision,
        ADD COLUMN IF NOT EXISTS server_version text;
    """
)

MIGRATIONS.append(
    # 8: continuous protection. Every WAL file a server's streamer put into the stores (a
    # partial segment's row is updated in place until it completes), base backups of
    # whole servers, and the restore points point-in-time drills recover to.
    """
    CREATE TABLE IF NOT EXISTS dr.wal_files (
        server        text NOT NULL,
        name          text NOT NULL,
        kind          text NOT NULL CHECK (kind IN ('segment','partial','history')),
        timeline      integer NOT NULL,
        received_at   timestamptz NOT NULL,
        stored_at     timestamptz NOT NULL DEFAULT now(),
        raw_bytes     bigint NOT NULL,
        written_bytes bigint,
        raw_sha256    text NOT NULL,
        held_by       text[] NOT NULL,
        deleted_at    timestamptz,
        PRIMARY KEY (server, name)
    );
    CREATE INDEX IF NOT EXISTS wal_files_received ON dr.wal_files (server, received_at DESC);
    CREATE TABLE IF NOT EXISTS dr.base_backups (
        backup_id       text PRIMARY KEY,
        server          text NOT NULL,
        status          text NOT NULL
                        CHECK (status IN ('running','completed','degraded','failed','deleted')),
        started_at      timestamptz NOT NULL,
        finished_at     timestamptz,
        timeline        integer,
        start_lsn       text,
        stop_lsn        text,
        raw_bytes       bigint,
        stored_bytes    bigint,
        sha256          text,
        server_version  text,
        dagster_run_id  text,
        partition_key   text,
        manifest        jsonb,
        error           text,
        deleted_at      timestamptz
    );
    CREATE INDEX IF NOT EXISTS base_backups_server ON dr.base_backups (server, started_at DESC);
    CREATE TABLE IF NOT EXISTS dr.restore_points (
        server       text NOT NULL,
        name         text NOT NULL,
        lsn          text NOT NULL,
        timeline     integer NOT NULL,
        created_at   timestamptz NOT NULL,
        row_counts   jsonb NOT NULL,
        PRIMARY KEY (server, name)
    );
    ALTER TABLE dr.drills DROP CONSTRAINT IF EXISTS drills_target_check;
    ALTER TABLE dr.drills ADD CONSTRAINT drills_target_check
        CHECK (target IN ('isolated', 'same_server', 'point_in_time'));
    ALTER TABLE dr.drills ADD COLUMN IF NOT EXISTS recovery_target text;
    """
    + "".join(
        f"""
    CREATE TRIGGER {table}_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
        ON dr.{table} FOR EACH STATEMENT EXECUTE FUNCTION dr.notify_change();"""
        for table in ("wal_files", "base_backups", "restore_points")  # frozen with the migration
    )
)

MIGRATIONS.append(
    # 9: what catalog sync last saw of each backup in the stores' listings, so the next sync
    # reads only new or changed manifests: per store the listed size and version (ETag and
    # LastModified, a file's mtime and inode) of its manifest, the stored objects a good copy
    # holds with their sizes, and the stores the manifest says hold one. A new, empty table
    # (online); sync trusts a row only while its backup's row in dr.backups is valid, so a
    # row of a deleted or purged backup is never taken for a seen manifest.
    """
    CREATE TABLE IF NOT EXISTS dr.synced_manifests (
        backup_id  text PRIMARY KEY,
        app        text NOT NULL,
        manifests  jsonb NOT NULL,
        objects    jsonb NOT NULL,
        copies     text[] NOT NULL,
        synced_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX IF NOT EXISTS synced_manifests_app ON dr.synced_manifests (app);
    CREATE TRIGGER synced_manifests_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
        ON dr.synced_manifests FOR EACH STATEMENT EXECUTE FUNCTION dr.notify_change();
    """
)

# Keys of the per-app advisory locks between writers of dr.backups (shared) and the
# backfill of dr.backup_totals (exclusive): pg_advisory_xact_lock(BACKUP_TOTALS_LOCK, hashtext(app)).
BACKUP_TOTALS_LOCK = 1010


# The two helpers below write migration 10: frozen with it.
def _totals_branch(rows: str, sign: int) -> str:
    return f"SELECT app, status, {sign} AS n, {sign} * coalesce(stored_bytes, 0) AS b FROM {rows}"


def _totals_delta(*parts: str) -> str:
    """Add what a statement changed (its transition tables) to the totals it touched."""
    changed = " UNION ALL ".join(parts)
    return f"""
        PERFORM pg_advisory_xact_lock_shared({BACKUP_TOTALS_LOCK}, hashtext(c.app)),
                dr.refresh_newest_backups(c.app)
            FROM (SELECT DISTINCT app FROM ({changed}) d ORDER BY app) c;
        INSERT INTO dr.backup_totals AS t (app, status, backups, stored_bytes)
            SELECT app, status, sum(n), sum(b) FROM ({changed}) d GROUP BY app, status
            HAVING sum(n) <> 0 OR sum(b) <> 0 ORDER BY app, status
        ON CONFLICT (app, status) DO UPDATE SET backups = t.backups + EXCLUDED.backups,
            stored_bytes = t.stored_bytes + EXCLUDED.stored_bytes;"""


MIGRATIONS.append(OnlineMigration(
    # 10: the catalog at a year of history for a thousand apps (millions of backups).
    # dr.backup_totals keeps, per app and status, how many backups and stored bytes there
    # are (triggers add what each statement changed), and dr.newest_backups each app's newest
    # backups as health reads them (computed again for every app a statement touched), so
    # the dashboards read a row per app instead of every backup; the indexes serve the rest
    # of their reads: bounded windows (the last 7 days), a status's listing, the last drill
    # per app, the deleted rows the purge removes.
    setup=f"""
    CREATE TABLE IF NOT EXISTS dr.backup_totals (
        app          text NOT NULL,
        status       text NOT NULL,
        backups      bigint NOT NULL,
        stored_bytes bigint NOT NULL,
        PRIMARY KEY (app, status)
    );
    CREATE OR REPLACE FUNCTION dr.backup_totals_follow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            DELETE FROM dr.backup_totals;
            DELETE FROM dr.newest_backups;
        ELSIF TG_OP = 'INSERT' THEN {_totals_delta(_totals_branch("new_rows", 1))}
        ELSIF TG_OP = 'DELETE' THEN {_totals_delta(_totals_branch("old_rows", -1))}
        ELSE {_totals_delta(_totals_branch("new_rows", 1), _totals_branch("old_rows", -1))}
        END IF;
        RETURN NULL;
    END $$;
    """ + "".join(
        f"""
    DROP TRIGGER IF EXISTS backups_totals_{event.lower()} ON dr.backups;
    CREATE TRIGGER backups_totals_{event.lower()} AFTER {event} ON dr.backups {referencing}
        FOR EACH STATEMENT EXECUTE FUNCTION dr.backup_totals_follow();"""
        for event, referencing in (
            ("INSERT", "REFERENCING NEW TABLE AS new_rows"),
            ("UPDATE", "REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows"),
            ("DELETE", "REFERENCING OLD TABLE AS old_rows"), ("TRUNCATE", ""))
    ) + """
    CREATE TABLE IF NOT EXISTS dr.newest_backups (
        app                text PRIMARY KEY,
        -- the newest valid backup
        backup_id          text,
        status             text,
        started_at         timestamptz,
        finished_at        timestamptz,
        stored_bytes       bigint,
        verified           boolean,
        -- when the newest verified valid backup started; whether the newest checked valid
        -- backup failed its check (null: none checked); the newest not deleted backup's
        -- status; whether any valid backup failed its check
        verified_at        timestamptz,
        newest_check_failed boolean,
        newest_status      text,
        any_check_failed   boolean NOT NULL DEFAULT false
    );
    -- An app's row computed afresh from its backups, once its row is locked: a concurrent
    -- writer of the app waits for this transaction, then computes it again seeing its rows.
    CREATE OR REPLACE FUNCTION dr.refresh_newest_backups(one text) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO dr.newest_backups (app) VALUES (one) ON CONFLICT (app) DO NOTHING;
        PERFORM 1 FROM dr.newest_backups WHERE app = one FOR UPDATE;
        UPDATE dr.newest_backups n SET
            (backup_id, status, started_at, finished_at, stored_bytes, verified) = (
                SELECT b.backup_id, b.status, b.started_at, b.finished_at, b.stored_bytes,
                       b.verified FROM dr.backups b
                WHERE b.app = one AND b.status IN ('completed','degraded')
                ORDER BY b.started_at DESC LIMIT 1),
            verified_at = (SELECT b.started_at FROM dr.backups b WHERE b.app = one
                AND b.verified AND b.status IN ('completed','degraded')
                ORDER BY b.started_at DESC LIMIT 1),
            newest_check_failed = (SELECT b.check_failed FROM dr.backups b WHERE b.app = one
                AND b.checks > 0 AND b.status IN ('completed','degraded')
                ORDER BY b.started_at DESC LIMIT 1),
            newest_status = (SELECT b.status FROM dr.backups b WHERE b.app = one
                AND b.status <> 'deleted' ORDER BY b.started_at DESC LIMIT 1),
            any_check_failed = EXISTS (SELECT FROM dr.backups b WHERE b.app = one
                AND b.check_failed AND b.status IN ('completed','degraded'))
        WHERE n.app = one;
    END $$;
    DROP TRIGGER IF EXISTS backup_totals_notify_change ON dr.backup_totals;
    CREATE TRIGGER backup_totals_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
        ON dr.backup_totals FOR EACH STATEMENT EXECUTE FUNCTION dr.notify_change();
    DROP TRIGGER IF EXISTS newest_backups_notify_change ON dr.newest_backups;
    CREATE TRIGGER newest_backups_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
        ON dr.newest_backups FOR EACH STATEMENT EXECUTE FUNCTION dr.notify_change();
    """,
    # Once the app's writers are held off (they take the lock shared in the trigger), its
    # totals are counted afresh: whatever the trigger added before is replaced.
    per_app=f"""
    SELECT pg_advisory_xact_lock({BACKUP_TOTALS_LOCK}, hashtext(%(app)s));
    DELETE FROM dr.backup_totals WHERE app = %(app)s;
    INSERT INTO dr.backup_totals (app, status, backups, stored_bytes)
        SELECT app, status, count(*), coalesce(sum(stored_bytes), 0) FROM dr.backups
        WHERE app = %(app)s GROUP BY app, status;
    SELECT dr.refresh_newest_backups(%(app)s);
    """,
    indexes=(
        # windows of time over every app (the last 24 hours, 7 days), read from the index
        ("backups_window", "ON dr.backups (started_at DESC) INCLUDE (app, status, duration_seconds)"),
        ("backups_check_failed", "ON dr.backups (app) WHERE check_failed"
                                 " AND status IN ('completed','degraded')"),
        ("backups_status_listing", "ON dr.backups (status, started_at DESC, backup_id DESC)"
                                   " WHERE status <> 'deleted'"),
        ("backups_deleted", "ON dr.backups (deleted_at) WHERE status = 'deleted'"),
        ("drills_app_finished", "ON dr.drills (app, finished_at DESC) WHERE status <> 'running'"),
        ("wal_files_deleted", "ON dr.wal_files (deleted_at) WHERE deleted_at IS NOT NULL"),
    ),
    drop_indexes=("backups_started",),  # backups_window reads the same windows
))

MIGRATIONS.append(OnlineMigration(
    # 11: liveness of running work. A backup, restore or drill records the advisory-lock key
    # its process holds on a catalog session while it runs (NULL on rows written before this
    # migration, which keep the age rule); a running row whose key nobody holds is dead
    # (catalog/liveness.py). The partial indexes keep that question a few index entries long;
    # they are built CONCURRENTLY (a column without a default is a change of the catalog only).
    setup="""
    ALTER TABLE dr.backups ADD COLUMN IF NOT EXISTS alive_key bigint;
    ALTER TABLE dr.restores ADD COLUMN IF NOT EXISTS alive_key bigint;
    ALTER TABLE dr.drills ADD COLUMN IF NOT EXISTS alive_key bigint;
    """,
    indexes=(
        ("backups_running", "ON dr.backups (app) WHERE status = 'running'"),
        ("restores_running", "ON dr.restores (app) WHERE status = 'running'"),
        ("drills_running", "ON dr.drills (app) WHERE status = 'running'"),
    ),
))

MIGRATIONS.append(OnlineMigration(
    # 12: anomalies in what a backup contains and held backups. `anomalies`: the findings of
    # the contents check on this backup (NULL: not checked, [] none); `held`: retention keeps
    # the backup, whatever its age, until an admin releases it (held_* say why, when and who
    # held it; released_* the last release). Columns with constant defaults change the
    # catalog only; the partial index of held backups is built concurrently.
    setup="""
    ALTER TABLE dr.backups ADD COLUMN IF NOT EXISTS anomalies jsonb,
                           ADD COLUMN IF NOT EXISTS held boolean NOT NULL DEFAULT false,
                           ADD COLUMN IF NOT EXISTS held_reason text,
                           ADD COLUMN IF NOT EXISTS held_at timestamptz,
                           ADD COLUMN IF NOT EXISTS held_by text,
                           ADD COLUMN IF NOT EXISTS released_at timestamptz,
                           ADD COLUMN IF NOT EXISTS released_by text,
                           ADD COLUMN IF NOT EXISTS release_reason text;
    """,
    indexes=(("backups_held", "ON dr.backups (app, started_at DESC) WHERE held"),),
))

MIGRATIONS.append(OnlineMigration(
    # 13: launch tickets used. A run that writes a database or deletes a backup records the
    # ticket it was launched with (who asked, role, action, arguments, when it was minted
    # and until when it was good); the nonce is the key, so a ticket launches one run only
    # (a retry of the same run keeps its own). A new table: a change of the catalog only.
    setup="""
    CREATE TABLE IF NOT EXISTS dr.launch_tickets (
        nonce text PRIMARY KEY,
        run_id text NOT NULL,
        action text NOT NULL,
        who text NOT NULL,
        role text NOT NULL,
        args jsonb NOT NULL,
        key_id text NOT NULL,
        issued_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        used_at timestamptz NOT NULL DEFAULT now()
    );
    """ + notify_trigger("launch_tickets"),
    indexes=(("launch_tickets_run", "ON dr.launch_tickets (run_id)"),),
))

MIGRATIONS.append(OnlineMigration(
    # 14: history for the forecasts (core/health/forecasts.py). `slot_samples`: a protected
    # server's replication slot, its retained WAL each time the alert sensor reads it (the
    # trend to the day the slot fills its limit), and the max_slot_wal_keep_size then (NULL:
    # unlimited); rows older than the forecast window are removed as new ones come. The
    # storage held over time is counted back from today's totals with the bytes of backups
    # started (backups_started_stored) and deleted (backups_deleted_stored) since each
    # moment, both read from the indexes alone; the latter replaces backups_deleted (same
    # key and predicate, which purge reads in that order).
    setup="""
    CREATE TABLE IF NOT EXISTS dr.slot_samples (
        server                 text NOT NULL,
        sampled_at             timestamptz NOT NULL,
        retained_bytes         bigint NOT NULL,
        max_slot_wal_keep_size bigint,
        PRIMARY KEY (server, sampled_at)
    );
    """ + notify_trigger("slot_samples"),
    indexes=(
        ("backups_started_stored",
         "ON dr.backups (started_at) INCLUDE (app, status, stored_bytes)"),
        ("backups_deleted_stored",
         "ON dr.backups (deleted_at) INCLUDE (app, stored_bytes) WHERE status = 'deleted'"),
    ),
    drop_indexes=("backups_deleted",),
))

MIGRATIONS.append(OnlineMigration(
    # 15: the alert outbox. Every alert opened or resolved, by whatever process, leaves a
    # row here in its own transaction (the trigger on dr.alerts), so no alert is lost when
    # a channel is down; the dispatcher routes it to the configured channels (a row per
    # channel), sends what is due, records each attempt and retries with backoff. New
    # tables and a trigger: a change of the catalog only.
    setup="""
    CREATE TABLE IF NOT EXISTS dr.alert_outbox (
        id bigserial PRIMARY KEY,
        alert_id bigint NOT NULL REFERENCES dr.alerts (id) ON DELETE CASCADE,
        channel text,
        event text NOT NULL CHECK (event IN ('opened', 'resolved')),
        created_at timestamptz NOT NULL DEFAULT now(),
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        attempts integer NOT NULL DEFAULT 0,
        delivered_at timestamptz,
        gave_up_at timestamptz,
        last_error text
    );
    CREATE TABLE IF NOT EXISTS dr.delivery_attempts (
        id bigserial PRIMARY KEY,
        outbox_id bigint NOT NULL REFERENCES dr.alert_outbox (id) ON DELETE CASCADE,
        at timestamptz NOT NULL DEFAULT now(),
        ok boolean NOT NULL,
        status_code integer,
        error text,
        duration_ms double precision NOT NULL
    );
    CREATE OR REPLACE FUNCTION dr.alert_to_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO dr.alert_outbox (alert_id, event) VALUES (NEW.id, 'opened');
        ELSIF OLD.status = 'open' AND NEW.status = 'resolved' THEN
            INSERT INTO dr.alert_outbox (alert_id, event) VALUES (NEW.id, 'resolved');
        END IF;
        RETURN NULL;
    END $$;
    DROP TRIGGER IF EXISTS alerts_to_outbox ON dr.alerts;
    CREATE TRIGGER alerts_to_outbox AFTER INSERT OR UPDATE OF status ON dr.alerts
        FOR EACH ROW EXECUTE FUNCTION dr.alert_to_outbox();
    """ + notify_trigger("alert_outbox") + notify_trigger("delivery_attempts"),
    indexes=(
        ("alert_outbox_due", "ON dr.alert_outbox (next_attempt_at)"
                             " WHERE delivered_at IS NULL AND gave_up_at IS NULL"),
        ("alert_outbox_alert", "ON dr.alert_outbox (alert_id)"),
        ("delivery_attempts_outbox", "ON dr.delivery_attempts (outbox_id, at DESC)"),
    ),
))
