"""What one `catalog sync` costs: objects read, keys listed, S3 requests and seconds.

    python bench/sync_cost.py [--backups 500] [--apps 10] [--object-kib 256] [--wal-keys 2000]
                              [--json]

Builds synthetic backups (random stored objects with their manifests, as a backup writes
them) spread over --apps apps in two stores, a SeaweedFS S3 bucket of its own and a local
directory, beside a WAL archive of --wal-keys small objects under `_wal/` in each; then
times the sync in the situations an hourly sync meets:

  first     a catalog that never synced (a lost catalog rebuilt): every manifest is new
  steady    the next sync, nothing changed (the median of 3)
  one_new   after one more backup
  repair    after one dump was deleted from the local store
  verify    the full pass of `drctl catalog sync --verify` (skipped by code without it)

Per situation: seconds, stored objects read (iter_object: a copy re-read) and their bytes,
manifests read (get_bytes), keys listed (list_keys / list_objects), stat or HEAD calls, and
the S3 requests by operation (counted by botocore's own event hooks). `measure(...)` returns
the same figures as a dict, for bench/scale.py.

The figures before the incremental sync come from the same script run on the older code:
    git archive <commit> | tar -x -C DIR && cp bench/sync_cost.py DIR/bench/
    .venv/bin/python DIR/bench/sync_cost.py
(a script finds the dr_assets of the tree it lives in). Needs the local PostgreSQL (for a
catalog database of its own, dropped at the end) and SeaweedFS's `weed` (make install).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from dr_assets.core.catalog import Catalog  # noqa: E402
from dr_assets.core.copies.sync import sync_catalog  # noqa: E402
from dr_assets.core.format.manifest import (  # noqa: E402
    BackupManifest,
    DestinationResult,
    EncryptionInfo,
    iso,
    manifest_key,
    object_key,
)
from dr_assets.core.policy import DestinationConfig  # noqa: E402
from dr_assets.core.stores.local import LocalStore  # noqa: E402
from dr_assets.core.stores.s3 import S3Store  # noqa: E402
from dr_assets.devstack import seaweed  # noqa: E402

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432"
CATALOG_DB = "dr_bench_sync_catalog"
BUCKET = "dr-bench-sync"
STEADY_RUNS = 3


@dataclass
class Counted:
    """A real store with its reads and listings counted; everything else passes through."""

    store: Any
    objects_read: int = 0
    bytes_read: int = 0
    manifests_read: int = 0
    keys_listed: int = 0
    stats: int = 0

    @property
    def name(self) -> str:
        return str(self.store.name)

    @property
    def kind(self) -> str:
        return str(self.store.kind)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.store, attr)

    def iter_object(self, key: str, *args: Any) -> Iterator[bytes]:
        self.objects_read += 1
        for block in self.store.iter_object(key, *args):
            self.bytes_read += len(block)
            yield block

    def get_bytes(self, key: str) -> bytes:
        data: bytes = self.store.get_bytes(key)
        self.manifests_read += 1
        self.bytes_read += len(data)
        return data

    def size(self, key: str) -> int | None:
        self.stats += 1
        found: int | None = self.store.size(key)
        return found

    def list_keys(self, under: str = "") -> Iterator[str]:
        for key in self.store.list_keys(under):
            self.keys_listed += 1
            yield key

    def list_objects(self, under: str = "") -> Iterator[Any]:
        for obj in self.store.list_objects(under):
            self.keys_listed += 1
            yield obj


@dataclass
class Estate:
    s3: S3Store
    local: LocalStore
    apps: list[str]
    object_bytes: int
    backups: list[BackupManifest] = field(default_factory=list)
    s3_requests: Counter[str] = field(default_factory=Counter)

    def stores(self) -> list[Counted]:
        return [Counted(self.s3), Counted(self.local)]


def _backup(app: str, at: datetime, object_bytes: int) -> tuple[BackupManifest, bytes]:
    backup_id = f"{app}-{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
    body = secrets.token_bytes(object_bytes)
    key = object_key(backup_id)
    done = iso(at + timedelta(minutes=2))
    dests = {name: DestinationResult("ok", object_bytes, done, None, f"{name}:{key}")
             for name in ("s3", "local")}
    manifest = BackupManifest(
        app=app, backup_id=backup_id, started_at=iso(at), finished_at=done,
        source_database=app, source_host="10.0.4.12:5432", server_version="15.8",
        pg_dump_version="15.8",
        encryption=EncryptionInfo("mk-bench", secrets.token_urlsafe(60), 1 << 20),
        raw_bytes=object_bytes * 4, stored_bytes=object_bytes,
        sha256=hashlib.sha256(body).hexdigest(), row_counts={"public.t": 1000},
        destinations=dests)
    return manifest, body


def _put(estate: Estate, key: str, data: bytes) -> None:
    estate.s3.put_bytes(key, data)
    estate.local.put_bytes(key, data)


def add_backup(estate: Estate, app: str, at: datetime) -> BackupManifest:
    manifest, body = _backup(app, at, estate.object_bytes)
    _put(estate, object_key(manifest.backup_id), body)
    _put(estate, manifest_key(manifest.backup_id), manifest.to_json())  # after its object
    estate.backups.append(manifest)
    return manifest


def build(workdir: Path, server: seaweed.SeaweedServer, backups: int, apps: int,
          object_bytes: int, wal_keys: int) -> Estate:
    def dest(**kw: Any) -> DestinationConfig:
        return DestinationConfig(prefix="backups", **kw)

    s3 = S3Store(dest(name="s3", kind="s3", bucket=BUCKET, endpoint_url=server.endpoint,
                      access_key_id=server.access_key, secret_access_key=server.secret_key,
                      part_size_mb=5))
    local = LocalStore(dest(name="local", kind="local", path=str(workdir / "local")))
    estate = Estate(s3, local, [f"bench_app{i:03d}" for i in range(apps)], object_bytes)
    now = datetime.now(UTC).replace(microsecond=0)
    jobs = [(estate.apps[i % apps], now - timedelta(hours=6 * (i // apps) + 1))
            for i in range(backups)]
    wal = [f"_wal/bench/00000001/{i:024X}" for i in range(wal_keys)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: add_backup(estate, *job), jobs))
        list(pool.map(lambda key: _put(estate, key, b"w" * 64), wal))
    s3.client.meta.events.register(
        "before-call.s3", lambda model, **_: estate.s3_requests.update([model.name]))
    return estate


def _reset_catalog() -> None:
    conn = psycopg2.connect(f"{LOCAL_PG}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(CATALOG_DB)))
    conn.close()


def run_sync(estate: Estate, catalog: Catalog, verify: bool = False) -> dict[str, Any]:
    stores = estate.stores()
    estate.s3_requests.clear()
    kwargs = {"verify": True} if verify else {}
    started = time.perf_counter()
    report = sync_catalog(stores, catalog, **kwargs)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "objects_read": sum(s.objects_read for s in stores),
        "bytes_read": sum(s.bytes_read for s in stores),
        "manifests_read": sum(s.manifests_read for s in stores),
        "keys_listed": sum(s.keys_listed for s in stores),
        "stats": sum(s.stats for s in stores),
        "s3_requests": dict(sorted(estate.s3_requests.items())),
        "backups_found": report.backups_found,
        "copies_repaired": len(report.copies_repaired),
    }


def measure(backups: int = 500, apps: int = 10, object_bytes: int = 256 << 10,
            wal_keys: int = 2000) -> dict[str, Any]:
    """The sync's cost per situation (see the module's docstring) on a fresh estate."""
    workdir = Path(tempfile.mkdtemp(prefix="dr-bench-sync-"))
    server = seaweed.start(workdir / "seaweed", buckets=(BUCKET,))
    catalog = Catalog(f"{LOCAL_PG}/{CATALOG_DB}")
    try:
        _reset_catalog()
        estate = build(workdir, server, backups, apps, object_bytes, wal_keys)
        figures: dict[str, Any] = {"backups": backups, "apps": apps, "stores": 2,
                                   "object_bytes": object_bytes, "wal_keys": wal_keys}
        figures["first"] = run_sync(estate, catalog)
        steady = [run_sync(estate, catalog) for _ in range(STEADY_RUNS)]
        figures["steady"] = {**steady[-1], "seconds": statistics.median(
            r["seconds"] for r in steady)}
        add_backup(estate, estate.apps[0], datetime.now(UTC).replace(microsecond=0))
        figures["one_new"] = run_sync(estate, catalog)
        estate.local.delete(object_key(estate.backups[0].backup_id))
        figures["repair"] = run_sync(estate, catalog)
        if "verify" in inspect.signature(sync_catalog).parameters:
            figures["verify"] = run_sync(estate, catalog, verify=True)
        return figures
    finally:
        catalog.close()
        seaweed.stop(server.pid)
        _reset_catalog()
        shutil.rmtree(workdir, ignore_errors=True)


def print_figures(figures: dict[str, Any]) -> None:
    print(f"catalog sync: {figures['backups']} backups of {figures['apps']} apps in "
          f"{figures['stores']} stores (S3 and local), {figures['object_bytes'] >> 10} KiB "
          f"each, beside {figures['wal_keys']} WAL keys per store")
    print(f"{'':10} {'seconds':>8} {'copies':>7} {'MiB read':>9} {'manifests':>10} "
          f"{'keys':>7} {'stats':>6}  S3 requests")
    for name in ("first", "steady", "one_new", "repair", "verify"):
        f = figures.get(name)
        if f is None:
            continue
        requests = ", ".join(f"{op} {n}" for op, n in f["s3_requests"].items())
        print(f"{name:10} {f['seconds']:8.2f} {f['objects_read']:7} "
              f"{f['bytes_read'] / (1 << 20):9.1f} {f['manifests_read']:10} "
              f"{f['keys_listed']:7} {f['stats']:6}  {requests}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backups", type=int, default=500)
    p.add_argument("--apps", type=int, default=10)
    p.add_argument("--object-kib", type=int, default=256)
    p.add_argument("--wal-keys", type=int, default=2000)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    figures = measure(args.backups, args.apps, args.object_kib << 10, args.wal_keys)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_figures(figures)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
