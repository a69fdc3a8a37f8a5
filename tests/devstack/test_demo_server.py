"""`make up` runs the demo's protected PostgreSQL itself: a server that accepts replication
connections (the machine's own may not), started again from its kept data after `make
down`, and left alone when something already listens on its port."""

from __future__ import annotations

import shutil
from pathlib import Path

from dr_assets.core.pg.instance import free_port
from dr_assets.core.policy import load_config
from dr_assets.core.wal.preflight import check_server
from dr_assets.devstack import seaweed
from dr_assets.devstack.demo_server import data_root, ensure_demo_server, stop_demo_server
from dr_assets.devstack.net import listening
from dr_assets.devstack.report import Report
from dr_assets.devstack.state import Paths
from tests.support.env import write_config


def test_demo_server_streams_and_survives_make_down(
        tmp_path: Path, s3_server: seaweed.SeaweedServer, catalog_db: str) -> None:
    port = free_port()
    path = write_config(tmp_path, s3_server, "demo", catalog_db, {})
    path.write_text(path.read_text() + "[servers.demo]\n"
                    f'url = "postgresql://postgres@127.0.0.1:{port}/postgres"\n'
                    "[apps.shop]\n"
                    f'database_url = "postgresql://postgres@127.0.0.1:{port}/postgres"\n'
                    'server = "demo"\nrto_hours = 4\nrpo_hours = 24\nevery_hours = 6\n'
                    "retention_days = 90\n")
    paths = Paths(root=tmp_path, config=path)
    config = load_config(path)
    try:
        report = Report(paths)
        ensure_demo_server(config, paths, report)
        assert listening(port) and len(report.changed) == 2  # initialized, then started
        pre = check_server(config.server("demo"))  # a replication connection opens
        assert pre.slot_created
        assert stop_demo_server(config, paths) is not None and not listening(port)
        again = Report(paths)
        ensure_demo_server(config, paths, again)
        assert listening(port) and len(again.changed) == 1  # started from its kept data
        assert not check_server(config.server("demo")).slot_created  # its data was kept
        untouched = Report(paths)
        ensure_demo_server(config, paths, untouched)  # already up: left alone
        assert untouched.changed == []
    finally:
        stop_demo_server(config, paths)
        shutil.rmtree(data_root(paths), ignore_errors=True)
