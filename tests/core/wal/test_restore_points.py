"""A restore point carries the exact row counts of the protected databases at that point,
even while a writer keeps inserting."""

from __future__ import annotations

import threading

from dr_assets.core.wal.restore_points import record_restore_point
from tests.support.pitr import PitrEnv


def test_restore_point_counts_are_taken_at_the_point(pitr_env: PitrEnv) -> None:
    rt = pitr_env.env.runtime()
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            pitr_env.sql("INSERT INTO ticks (note) VALUES ('w')")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        point = record_restore_point(rt.config, "main", rt.catalog)
    finally:
        stop.set()
        thread.join()
    assert point.row_counts["shop"]["public.customers"] == 500
    assert point.lsn.count("/") == 1 and point.timeline == 1
    [row] = rt.catalog.list_restore_points("main")
    assert row.name == point.name and row.row_counts == point.row_counts
    # the server names the point in its WAL: the counts are what recovery will see
    assert pitr_env.sql("SELECT count(*) FROM ticks")[0][0] >= point.row_counts["shop"]["public.ticks"]
