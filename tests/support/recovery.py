"""Point-in-time recovery tests' helpers: WAL of the protected test server put into the
archive straight from its pg_wal (what the streamer does, without it), a plain base backup
of it made with pg_basebackup into a throwaway instance's data directory, and the ticks
an insert loop writes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from dr_assets.core.pg.command import run
from dr_assets.core.pg.instance import ThrowawayInstance
from dr_assets.core.pg.wal_names import Segment, history_timeline, is_segment_name
from dr_assets.core.wal.archive import WalArchive
from tests.support.pitr import PitrEnv


def switch_wal(env: PitrEnv) -> str:
    """Close the current segment; the name of the segment closed."""
    row = env.sql("SELECT pg_walfile_name(pg_switch_wal())", "postgres")
    return str(row[0][0])


def archive_wal(env: PitrEnv, archive: WalArchive, *, partial: bool = True) -> list[str]:
    """Put the server's completed segments and history files into the archive, and the
    current segment as the partial (full size, as pg_receivewal keeps it)."""
    current = str(env.sql("SELECT pg_walfile_name(pg_current_wal_lsn())", "postgres")[0][0])
    now = datetime.now(UTC).isoformat()
    put = []
    pg_wal = env.server.data_dir / "pg_wal"
    for path in sorted(pg_wal.iterdir()):
        name = path.name
        if is_segment_name(name) and Segment.parse(name).number < Segment.parse(current).number:
            archive.put(name, path.read_bytes(), received_at=now)
            put.append(name)
        elif history_timeline(name) is not None:
            archive.put(name, path.read_bytes(), received_at=now)
            put.append(name)
    if partial:
        archive.put(current + ".partial", (pg_wal / current).read_bytes(), received_at=now)
        put.append(current + ".partial")
    return put


def base_into(env: PitrEnv, instance: ThrowawayInstance) -> None:
    """pg_basebackup of the test server, plain, without WAL, into the instance's data dir."""
    run(["pg_basebackup", "-d", env.server_url + "/postgres", "-D", str(instance.data_dir),
         "-Fp", "-X", "none", "--no-sync", "-c", "fast"])


def tick(env: PitrEnv, n: int, note: str, pause: float = 0.01) -> None:
    for _ in range(n):
        env.sql(f"INSERT INTO ticks (note) VALUES ('{note}')")
        time.sleep(pause)


def ticks(info_url: str) -> list[tuple[int, datetime, str]]:
    from tests.support.pg import run_sql
    db, server = info_url.rsplit("/", 1)[1], info_url.rsplit("/", 1)[0]
    return [(int(r[0]), r[1], str(r[2])) for r in run_sql(  # type: ignore[misc]
        db, "SELECT id, at, note FROM ticks ORDER BY id", server=server)]


def data_path(instance: ThrowawayInstance) -> Path:
    return instance.data_dir
