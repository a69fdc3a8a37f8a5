"""Backup and restore throughput of `drctl` against plain pg_dump / pg_restore.

Builds (once) a ~1.4 GB database `dr_bench_source` of pgbench tables plus a table of
generated text/jsonb rows, then runs, `--runs` times each (in reverse order every other
round, so slow disk spells and checkpoints do not always hit the same command):

  (a) drctl backup APP            pg_dump -Fc -Z0 | zstd | AES-256-GCM | sha256 -> local store
  (b) pg_dump -Fc -f FILE         the stock custom format (gzip level 6 inside pg_dump)
  (c) pg_dump -Fc -Z0 >/dev/null  the dump alone: the floor for (a)
  (d) drctl restore ID            read the copy once: authenticate and decrypt each chunk,
                                  decompress, pg_restore, check the SHA-256, count rows
  (e) CREATE DATABASE + pg_restore -d NEWDB FILE(b)
  (f) drctl restore ID --jobs 2   the opt-in parallel restore (spooled), for information
  (g) drctl drill APP             an isolated drill: a throwaway server of the source's major
                                  version started, the newest verified backup restored into
                                  it and validated, the server removed; its wall split into
                                  the server's start-up, the restore (row counts validated
                                  included) and the rest (stopping and removing the server)

and prints wall-time medians, ratios, sizes, the bytes each restore read from the store
(`bytes_read` of `drctl restore --json`: the stored size, the copy read once) and the
peak RSS of the drctl process, with one PASS/FAIL line per target (time ratios: the
median of the per-round ratios). Then it weighs zstd levels against zlib-6 on a block
sample of the data, which shows what a stored-size target costs in CPU on this data.
Peak RSS is VmHWM from /proc/PID/status of the drctl process itself, polled every 20 ms
(the high-water mark is monotonic, so polling only misses growth in the last 20 ms);
ru_maxrss from os.wait4 is kept as a cross-check (on Linux it is the max over the process
and the children it waited for, e.g. pg_dump).

Usage: .venv/bin/python bench/backup_throughput.py [--runs 3] [--json] [--rebuild] [--strict]
                                                   [--zstd-level N] [--frontier-levels 1,3,9,12,19]
Temporary files live in bench/.cache/backup_throughput/ (gitignored); dumps, backups, the
bench catalog and restored databases are removed at the end; the source database is kept.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import zstandard

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache" / "backup_throughput"
sys.path.insert(0, str(ROOT))

from pgserver import Server  # noqa: E402

from dr_assets.core.pg.binaries import find_tool  # noqa: E402
from dr_assets.devstack.state import installed_program  # noqa: E402

APP = "bench_source"
SOURCE_DB = "dr_bench_source"
CATALOG_DB = "dr_bench_catalog"
RESTORE_DB = "dr_bench_restore_drctl"
PG_RESTORE_DB = "dr_bench_restore_pg"
DATA_VERSION = 1  # bump when the generated data changes; a mismatch rebuilds the source
RESTORE_JOBS = 2  # (f): the opt-in parallel restore, one job per core here
PGBENCH_SCALE = 45  # ~675 MB with indexes
EVENT_ROWS = 1_800_000  # ~740 MB with its index
EVENT_BATCH = 300_000
POLL_SECONDS = 0.02
MIB = 1 << 20

TARGETS = [
    # (key, description, ratio name, limit)
    ("backup_vs_fc", "backup wall <= 0.5 x pg_dump -Fc", "backup_over_pg_dump_fc", 0.5),
    ("backup_vs_z0", "backup wall <= 1.3 x pg_dump -Fc -Z0 > /dev/null",
     "backup_over_pg_dump_z0_devnull", 1.3),
    # Restated: <= 1.0 x on any data; <= 0.85 x only on the reference data set (pgbench
    # scale 60 + 2.5 M rows of md5 tokens and small jsonb), which this bench does not build.
    ("size_vs_fc", "stored size <= 1.0 x the -Fc file (any data)", "stored_over_fc_file", 1.0),
    ("backup_rss", "backup peak RSS <= 200 MiB", "backup_peak_rss_mb", 200.0),
    ("restore_rss", "restore peak RSS <= 200 MiB", "restore_peak_rss_mb", 200.0),
    ("restore_vs_pg", "restore wall <= 1.05 x pg_restore", "restore_over_pg_restore", 1.05),
    ("restore_reads", "bytes read per restore <= 1.0 x stored size",
     "restore_read_over_stored", 1.0),
]

WORDS = (
    "account balance invoice payment refund order shipment customer address delivery "
    "warehouse product review rating support ticket escalated resolved pending approved "
    "rejected cancelled scholarship student course semester grade transcript enrollment "
    "deadline reminder notification email phone mobile desktop browser session login "
    "logout password reset profile update settings billing subscription renewal trial"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- running and measuring child processes -------------------------------------------------


@dataclass
class Measured:
    seconds: float
    returncode: int
    vm_hwm_kb: int  # peak RSS of the child itself, polled from /proc/PID/status
    ru_maxrss_kb: int  # from os.wait4: max over the child and its waited-for children
    cpu_seconds: float  # user + sys of the child and the children it waited for (wait4)
    stdout: str
    stderr: str


def _vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_measured(args: Sequence[str], *, devnull_stdout: bool = False,
                 env: dict[str, str] | None = None) -> Measured:
    """Run a command, timing its wall clock and sampling its own peak RSS until it exits."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out_path, err_path = CACHE / "child.stdout", CACHE / "child.stderr"
    with open(err_path, "wb") as err, (
        open(os.devnull, "wb") if devnull_stdout else open(out_path, "wb")
    ) as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(args), stdout=out, stderr=err, env=env)
        hwm = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            hwm = max(hwm, _vm_hwm_kb(proc.pid))
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = "" if devnull_stdout else out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(seconds, proc.returncode, hwm, usage.ru_maxrss, cpu, stdout, stderr)


def check(m: Measured, what: str) -> Measured:
    if m.returncode != 0:
        tail = "\n".join(m.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"bench: {what} failed with exit {m.returncode}:\n{tail}")
    return m


# --- the database server ----------------------------------------------------------------------


def find_pgbench(major: int) -> str:
    on_path = shutil.which("pgbench")
    if on_path:
        return on_path
    candidate = Path("/usr/lib/postgresql") / str(major) / "bin" / "pgbench"
    if candidate.exists():
        return str(candidate)
    raise SystemExit(f"bench: no pgbench on PATH or for PostgreSQL {major}: "
                     f"install postgresql-contrib-{major} or postgresql-{major}")


# --- building the source database ---------------------------------------------------------


def _source_is_built(server: Server) -> bool:
    if not server.exists(SOURCE_DB):
        return False
    version = server.scalar(
        "SELECT CASE WHEN to_regclass('public.bench_meta') IS NULL THEN NULL "
        "ELSE (SELECT max(data_version) FROM bench_meta) END", db=SOURCE_DB)
    return bool(version == DATA_VERSION)


def build_source(server: Server, rebuild: bool) -> None:
    if not rebuild and _source_is_built(server):
        log(f"{SOURCE_DB} is already built (bench_meta data_version {DATA_VERSION})")
        return
    log(f"building {SOURCE_DB}: pgbench -i -s {PGBENCH_SCALE} + {EVENT_ROWS:,} event rows")
    t0 = time.perf_counter()
    server.drop(SOURCE_DB)
    server.create(SOURCE_DB)
    env = server.info.tool_env()
    pgbench = find_pgbench(server.major())
    proc = subprocess.run(
        [pgbench, *server.info.tool_args(), "-i", "-q", "-s", str(PGBENCH_SCALE), SOURCE_DB],
        env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench: pgbench -i failed: {proc.stderr.strip()[-2000:]}")
    log(f"  pgbench tables done in {time.perf_counter() - t0:.0f} s")
    vocabulary = WORDS.split()
    words = "ARRAY[" + ",".join(f"'{w}'" for w in vocabulary) + "]"
    n = len(vocabulary)

    word = f"(w.a)[1 + floor(random() * {n})::int]"  # random() is volatile: new per use

    conn = server.connect(SOURCE_DB)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """
                CREATE TABLE bench_events (
                    id          bigint PRIMARY KEY,
                    created_at  timestamptz NOT NULL,
                    account_id  integer NOT NULL,
                    kind        text NOT NULL,
                    status      text NOT NULL,
                    amount      numeric(12, 2) NOT NULL,
                    note        text,
                    payload     jsonb NOT NULL
                )
                """
            )
            insert = f"""
                INSERT INTO bench_events
                SELECT i,
                       timestamptz '2025-01-01 00:00:00+00' + i * interval '7 seconds'
                           + random() * interval '5 seconds',
                       1 + floor(random() * 200000)::int,
                       (ARRAY['order','refund','login','payment','shipment','review',
                              'support','logout'])[1 + floor(random() * 8)::int],
                       (ARRAY['new','pending','done','done','done','failed'])
                           [1 + floor(random() * 6)::int],
                       round((random() * 2000)::numeric, 2),
                       concat_ws(' ', {word}, {word}, {word}, {word},
                                 {word}, 'ref', left(md5(random()::text),
                                 4 + floor(random() * 20)::int)),
                       jsonb_build_object(
                           'sku', 'SKU-' || lpad(floor(random() * 20000)::int::text, 6, '0'),
                           'qty', 1 + floor(random() * 9)::int,
                           'price', round((random() * 500)::numeric, 2),
                           'currency', (ARRAY['USD','EUR','GBP','USD'])
                               [1 + floor(random() * 4)::int],
                           'ip', '10.' || floor(random() * 256)::int || '.'
                               || floor(random() * 256)::int || '.'
                               || floor(random() * 256)::int,
                           'channel', (ARRAY['web','ios','android','api'])
                               [1 + floor(random() * 4)::int],
                           'session', md5(i::text),
                           'tags', jsonb_build_array({word}, {word}),
                           'flags', jsonb_build_object('gift', random() < 0.1,
                                                       'express', random() < 0.3)
                       )
                FROM generate_series(%s, %s) AS i, (SELECT {words} AS a) AS w
            """
            for start in range(1, EVENT_ROWS + 1, EVENT_BATCH):
                end = min(start + EVENT_BATCH - 1, EVENT_ROWS)
                cur.execute(insert, (start, end))
                log(f"  bench_events rows {end:,}/{EVENT_ROWS:,} "
                    f"({time.perf_counter() - t0:.0f} s)")
            cur.execute("VACUUM ANALYZE bench_events")
            cur.execute("CREATE TABLE bench_meta (data_version int, built_at timestamptz)")
            cur.execute("INSERT INTO bench_meta VALUES (%s, now())", (DATA_VERSION,))
    finally:
        conn.close()
    log(f"built {SOURCE_DB} in {time.perf_counter() - t0:.0f} s")


# --- the drctl side ------------------------------------------------------------------------


def drctl_path() -> str:
    try:
        return installed_program("drctl", "run `pip install -e .` in the venv")
    except RuntimeError as exc:
        raise SystemExit(f"bench: {exc}") from None


def write_config(server: Server, zstd_level: int | None) -> Path:
    """A config with one local destination; relative paths resolve against the file."""
    CACHE.mkdir(parents=True, exist_ok=True)
    config = CACHE / "dr-bench.toml"
    compression = f"[compression]\nzstd_level = {zstd_level}\n\n" if zstd_level else ""
    config.write_text(
        "# written by bench/backup_throughput.py\n"
        f'[catalog]\ndatabase_url = "{server.url(CATALOG_DB)}"\n\n'
        '[encryption]\nkey_file = "keys/master.key"\n\n'
        f"{compression}"
        '[[destinations]]\nname = "local"\nkind = "local"\npath = "store"\n\n'
        f'[apps.{APP}]\ndatabase_url = "{server.url(SOURCE_DB)}"\n'
        "rto_hours = 4\nrpo_hours = 24\nevery_hours = 24\nretention_days = 7\n"
    )
    key = CACHE / "keys" / "master.key"
    if not key.exists():
        check(run_measured([drctl_path(), "key", "generate", str(key)]), "drctl key generate")
    return config


# --- one round --------------------------------------------------------------------------------


@dataclass
class Samples:
    backup_s: list[float] = field(default_factory=list)
    pg_dump_fc_s: list[float] = field(default_factory=list)
    pg_dump_z0_s: list[float] = field(default_factory=list)
    restore_s: list[float] = field(default_factory=list)
    restore_jobs_s: list[float] = field(default_factory=list)
    pg_restore_s: list[float] = field(default_factory=list)
    stored_bytes: list[int] = field(default_factory=list)
    raw_bytes: list[int] = field(default_factory=list)
    fc_file_bytes: list[int] = field(default_factory=list)
    backup_hwm_kb: list[int] = field(default_factory=list)
    backup_ru_maxrss_kb: list[int] = field(default_factory=list)
    restore_hwm_kb: list[int] = field(default_factory=list)
    restore_ru_maxrss_kb: list[int] = field(default_factory=list)
    backup_reported_s: list[float] = field(default_factory=list)
    restore_reported_s: list[float] = field(default_factory=list)
    restore_read_bytes: list[int] = field(default_factory=list)  # (d), per round
    restore_jobs_read_bytes: list[int] = field(default_factory=list)  # (f), per round
    drill_s: list[float] = field(default_factory=list)  # (g): the wall of the whole drill
    drill_start_s: list[float] = field(default_factory=list)  # (g): the server's start-up
    drill_restore_s: list[float] = field(default_factory=list)  # (g): the timed restore
    cpu_s: dict[str, list[float]] = field(default_factory=dict)

    def cpu(self, key: str, m: Measured) -> None:
        self.cpu_s.setdefault(key, []).append(m.cpu_seconds)


def one_round(i: int, runs: int, server: Server, config: Path, pg_dump: str, pg_restore: str,
              s: Samples) -> None:
    """One round of a..g. Odd rounds run them in reverse order (c b a, then g f e d), so a
    checkpoint or a slow disk spell does not always land on the same command."""
    env = server.info.tool_env()
    conn_args = server.info.tool_args()
    drctl = drctl_path()
    fc_file = CACHE / "pg_dump.fc"
    tag = f"[{i + 1}/{runs}]"
    made: dict[str, str] = {}

    def a() -> None:
        m = check(run_measured([drctl, "--config", str(config), "backup", APP, "--json"]),
                  "(a) drctl backup")
        doc = json.loads(m.stdout)
        made["backup_id"] = doc["backup_id"]
        s.backup_s.append(m.seconds)
        s.cpu("a_drctl_backup", m)
        s.backup_reported_s.append(float(doc["duration_seconds"]))
        s.stored_bytes.append(int(doc["stored_bytes"]))
        s.raw_bytes.append(int(doc["raw_bytes"]))
        s.backup_hwm_kb.append(m.vm_hwm_kb)
        s.backup_ru_maxrss_kb.append(m.ru_maxrss_kb)
        log(f"{tag} (a) drctl backup           {m.seconds:7.1f} s  "
            f"stored {doc['stored_bytes'] / MIB:.0f} MiB, RSS {m.vm_hwm_kb / 1024:.0f} MiB")

    def b() -> None:
        fc_file.unlink(missing_ok=True)
        m = check(run_measured([pg_dump, *conn_args, "--no-password", "-Fc", "-f",
                                str(fc_file), SOURCE_DB], env=env), "(b) pg_dump -Fc")
        s.pg_dump_fc_s.append(m.seconds)
        s.cpu("b_pg_dump_fc_file", m)
        s.fc_file_bytes.append(fc_file.stat().st_size)
        log(f"{tag} (b) pg_dump -Fc -f FILE     {m.seconds:7.1f} s  "
            f"file {fc_file.stat().st_size / MIB:.0f} MiB")

    def c() -> None:
        m = check(run_measured([pg_dump, *conn_args, "--no-password", "-Fc", "-Z0", SOURCE_DB],
                               devnull_stdout=True, env=env), "(c) pg_dump -Fc -Z0")
        s.pg_dump_z0_s.append(m.seconds)
        s.cpu("c_pg_dump_fc_z0_devnull", m)
        log(f"{tag} (c) pg_dump -Fc -Z0 >null   {m.seconds:7.1f} s")

    def d() -> None:
        server.drop(RESTORE_DB)
        m = check(run_measured([drctl, "--config", str(config), "restore", made["backup_id"],
                                "--target-db", RESTORE_DB, "--json"]), "(d) drctl restore")
        doc = json.loads(m.stdout)
        s.restore_s.append(m.seconds)
        s.cpu("d_drctl_restore", m)
        s.restore_reported_s.append(float(doc["seconds"]))
        s.restore_read_bytes.append(int(doc["bytes_read"]))
        s.restore_hwm_kb.append(m.vm_hwm_kb)
        s.restore_ru_maxrss_kb.append(m.ru_maxrss_kb)
        log(f"{tag} (d) drctl restore          {m.seconds:7.1f} s  "
            f"{doc['rows']:,} rows, read {doc['bytes_read'] / MIB:.0f} MiB, "
            f"RSS {m.vm_hwm_kb / 1024:.0f} MiB")
        server.drop(RESTORE_DB)

    def f() -> None:
        server.drop(RESTORE_DB)
        spool = CACHE / "spool"
        spool.mkdir(exist_ok=True)
        m = check(run_measured([drctl, "--config", str(config), "restore", made["backup_id"],
                                "--target-db", RESTORE_DB, "--jobs", str(RESTORE_JOBS),
                                "--spool-dir", str(spool), "--json"]),
                  "(f) drctl restore --jobs")
        doc = json.loads(m.stdout)
        s.restore_jobs_s.append(m.seconds)
        s.restore_jobs_read_bytes.append(int(doc["bytes_read"]))
        s.cpu("f_drctl_restore_jobs", m)
        log(f"{tag} (f) drctl restore --jobs {RESTORE_JOBS} {m.seconds:7.1f} s  "
            f"({doc['loaded_with']}), read {doc['bytes_read'] / MIB:.0f} MiB")
        server.drop(RESTORE_DB)

    def e() -> None:
        server.drop(PG_RESTORE_DB)
        t0 = time.perf_counter()
        server.create(PG_RESTORE_DB)
        created = time.perf_counter() - t0
        m = check(run_measured([pg_restore, *conn_args, "--no-password", "--exit-on-error",
                                "-d", PG_RESTORE_DB, str(fc_file)], env=env), "(e) pg_restore")
        s.pg_restore_s.append(created + m.seconds)
        s.cpu("e_createdb_pg_restore", m)
        log(f"{tag} (e) createdb + pg_restore  {created + m.seconds:7.1f} s")
        server.drop(PG_RESTORE_DB)

    def g() -> None:
        m = check(run_measured([drctl, "--config", str(config), "drill", APP, "--json"]),
                  "(g) drctl drill")
        doc = json.loads(m.stdout)
        s.drill_s.append(m.seconds)
        s.drill_start_s.append(float(doc["instance_start_seconds"]))
        s.drill_restore_s.append(float(doc["restore_seconds"]))
        s.cpu("g_drctl_drill_isolated", m)
        log(f"{tag} (g) drctl drill (isolated) {m.seconds:7.1f} s  start-up "
            f"{doc['instance_start_seconds']:.1f} s, restore {doc['restore_seconds']:.1f} s "
            f"on PostgreSQL {doc['server_version']}")

    for step in ((a, b, c, d, e, f, g) if i % 2 == 0 else (c, b, a, g, f, e, d)):
        step()
    _delete_backup_files(config.parent / "store", made["backup_id"])
    fc_file.unlink(missing_ok=True)


def _delete_backup_files(store: Path, backup_id: str) -> None:
    for path in store.rglob(f"{backup_id}.*"):
        path.unlink(missing_ok=True)


def cleanup(server: Server, config_dir: Path) -> None:
    for db in (RESTORE_DB, PG_RESTORE_DB, CATALOG_DB):
        try:
            server.drop(db)
        except psycopg2.Error as exc:
            log(f"cleanup: cannot drop {db}: {exc}")
    shutil.rmtree(config_dir / "store", ignore_errors=True)
    for name in ("pg_dump.fc", "child.stdout", "child.stderr"):
        (config_dir / name).unlink(missing_ok=True)


# --- how compressible the data is -----------------------------------------------------------


def compressibility(server: Server, levels: Sequence[int], percent: float) -> dict[str, Any]:
    """Size and speed of zstd levels against zlib level 6 (the codec and level inside
    `pg_dump -Fc`) on a block sample of every user table's COPY text, i.e. of the bytes both
    formats compress. One thread per codec, so MB/s is per core."""
    conn = server.connect(SOURCE_DB)
    parts = []
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables"
                        " ORDER BY 1")
            tables = [r[0] for r in cur.fetchall()]
            for table in tables:
                buf = io.BytesIO()
                cur.copy_expert(f"COPY (SELECT * FROM {table} TABLESAMPLE SYSTEM ({percent:g})"
                                ") TO STDOUT", buf)
                parts.append(buf.getvalue())
    finally:
        conn.close()
    sample = b"".join(parts)

    def timed(fn: Any) -> tuple[int, float]:
        t0 = time.process_time()
        size = len(fn(sample))
        return size, len(sample) / MIB / max(time.process_time() - t0, 1e-9)

    zlib_size, zlib_rate = timed(lambda d: zlib.compress(d, 6))
    rows = [{"codec": "zlib-6 (pg_dump -Fc)", "over_zlib6": 1.0,
             "mib_per_cpu_second": round(zlib_rate, 1)}]
    for level in levels:
        size, rate = timed(lambda d, lv=level: zstandard.ZstdCompressor(level=lv).compress(d))
        rows.append({"codec": f"zstd-{level}", "over_zlib6": round(size / zlib_size, 3),
                     "mib_per_cpu_second": round(rate, 1)})
    return {"sample_percent": percent, "sample_bytes": len(sample), "tables": len(tables),
            "zlib6_ratio": round(len(sample) / zlib_size, 2), "codecs": rows}


# --- report ----------------------------------------------------------------------------------


def _paired(ours: list[float], theirs: list[float]) -> float:
    """Median of the per-round ratios: each round's runs share the same background noise."""
    return statistics.median(a / b for a, b in zip(ours, theirs, strict=True))


def _read_over_stored(s: Samples) -> float:
    """The most any restore, streamed or parallel, read from the store against the size of
    the copy it restored (that round's backup)."""
    rounds = zip(s.restore_read_bytes, s.restore_jobs_read_bytes, s.stored_bytes, strict=True)
    return max(max(d, f) / stored for d, f, stored in rounds)


def drill_split(s: Samples) -> dict[str, float]:
    """(g)'s wall in parts, medians over the rounds: the throwaway server's initdb and
    start-up, the restore the drill times against the RTO (row counts validated included),
    and the rest (drctl starting, the catalog, stopping and removing the server)."""
    med = statistics.median
    rest = [w - st - r for w, st, r in zip(s.drill_s, s.drill_start_s, s.drill_restore_s,
                                             strict=True)]
    return {"wall": round(med(s.drill_s), 2), "instance_start": round(med(s.drill_start_s), 2),
            "restore_and_validation": round(med(s.drill_restore_s), 2),
            "rest": round(med(rest), 2)}


def summarize(s: Samples, source_size: int, runs: int, commands: dict[str, str],
              zstd_level: int | None) -> dict[str, Any]:
    med = statistics.median
    backup, fc, z0 = med(s.backup_s), med(s.pg_dump_fc_s), med(s.pg_dump_z0_s)
    restore, pg_restore = med(s.restore_s), med(s.pg_restore_s)
    stored, fc_size = med(s.stored_bytes), med(s.fc_file_bytes)
    ratios = {
        "backup_over_pg_dump_fc": backup / fc,
        "backup_over_pg_dump_z0_devnull": backup / z0,
        "stored_over_fc_file": stored / fc_size,
        "restore_over_pg_restore": restore / pg_restore,
        "backup_peak_rss_mb": max(s.backup_hwm_kb) / 1024,
        "restore_peak_rss_mb": max(s.restore_hwm_kb) / 1024,
        "restore_read_over_stored": _read_over_stored(s),
    }
    paired = {
        "parallel_restore_over_pg_restore": _paired(s.restore_jobs_s, s.pg_restore_s),
        "backup_over_pg_dump_fc": _paired(s.backup_s, s.pg_dump_fc_s),
        "backup_over_pg_dump_z0_devnull": _paired(s.backup_s, s.pg_dump_z0_s),
        "restore_over_pg_restore": _paired(s.restore_s, s.pg_restore_s),
    }
    # Time targets are judged on the median of the per-round ratios (each round's commands
    # share that round's background noise); sizes and RSS on the values themselves.
    judged = {**ratios, **paired}
    targets = []
    for key, text, ratio, limit in TARGETS:
        targets.append({"target": key, "text": text, "value": round(judged[ratio], 3),
                        "limit": limit, "pass": judged[ratio] <= limit})
    return {
        "source_database": SOURCE_DB,
        "source_size_bytes": source_size,
        "runs": runs,
        "zstd_level": zstd_level if zstd_level else "product default",
        "order": "per round: a b c d e f g, in odd rounds c b a g f e d",
        "commands": commands,
        "median_seconds": {
            "a_drctl_backup": round(backup, 2),
            "b_pg_dump_fc_file": round(fc, 2),
            "c_pg_dump_fc_z0_devnull": round(z0, 2),
            "d_drctl_restore": round(restore, 2),
            "e_createdb_pg_restore": round(pg_restore, 2),
            "f_drctl_restore_jobs": round(med(s.restore_jobs_s), 2),
            "g_drctl_drill_isolated": round(med(s.drill_s), 2),
        },
        "isolated_drill_seconds": drill_split(s),
        "samples_seconds": {
            "a_drctl_backup": [round(x, 2) for x in s.backup_s],
            "a_drctl_backup_reported": [round(x, 2) for x in s.backup_reported_s],
            "b_pg_dump_fc_file": [round(x, 2) for x in s.pg_dump_fc_s],
            "c_pg_dump_fc_z0_devnull": [round(x, 2) for x in s.pg_dump_z0_s],
            "d_drctl_restore": [round(x, 2) for x in s.restore_s],
            "d_drctl_restore_reported": [round(x, 2) for x in s.restore_reported_s],
            "e_createdb_pg_restore": [round(x, 2) for x in s.pg_restore_s],
            "f_drctl_restore_jobs": [round(x, 2) for x in s.restore_jobs_s],
            "g_drctl_drill_isolated": [round(x, 2) for x in s.drill_s],
        },
        "client_cpu_seconds_median": {
            "note": "user+sys of the command and the children it waited for (pg_dump, "
                    "pg_restore), from wait4; server-side CPU is not included",
            **{k: round(med(v), 2) for k, v in s.cpu_s.items()},
        },
        "bytes": {
            "raw_dump": int(med(s.raw_bytes)),
            "stored": int(stored),
            "fc_file": int(fc_size),
            "read_per_restore": int(med(s.restore_read_bytes)),
            "read_per_restore_jobs": int(med(s.restore_jobs_read_bytes)),
            "read_per_restore_runs": s.restore_read_bytes,
            "read_per_restore_jobs_runs": s.restore_jobs_read_bytes,
        },
        "peak_rss_mb": {
            "method": "MiB; VmHWM of the drctl process, polled from /proc/PID/status every "
                      f"{int(POLL_SECONDS * 1000)} ms; max over runs",
            "backup": round(max(s.backup_hwm_kb) / 1024, 1),
            "restore": round(max(s.restore_hwm_kb) / 1024, 1),
            "backup_runs": [round(k / 1024, 1) for k in s.backup_hwm_kb],
            "restore_runs": [round(k / 1024, 1) for k in s.restore_hwm_kb],
            "backup_wait4_ru_maxrss": round(max(s.backup_ru_maxrss_kb) / 1024, 1),
            "restore_wait4_ru_maxrss": round(max(s.restore_ru_maxrss_kb) / 1024, 1),
        },
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "per_round_ratio_medians": {k: round(v, 3) for k, v in paired.items()},
        "targets": targets,
        "all_pass": all(t["pass"] for t in targets),
    }


def print_text(r: dict[str, Any]) -> None:
    t, b, rss, q = r["median_seconds"], r["bytes"], r["peak_rss_mb"], r["ratios"]
    print(f"{r['source_database']}: pg_database_size {r['source_size_bytes'] / MIB:,.0f} MiB "
          f"({r['source_size_bytes']:,} bytes); raw dump (-Fc -Z0) {b['raw_dump'] / MIB:,.0f} MiB")
    print(f"runs: {r['runs']}, {r['order']}; zstd level: {r['zstd_level']}; wall-time medians:")
    labels = [
        ("a_drctl_backup", "(a) drctl backup (local store)"),
        ("b_pg_dump_fc_file", "(b) pg_dump -Fc -f FILE"),
        ("c_pg_dump_fc_z0_devnull", "(c) pg_dump -Fc -Z0 > /dev/null"),
        ("d_drctl_restore", "(d) drctl restore"),
        ("e_createdb_pg_restore", "(e) CREATE DATABASE + pg_restore -d"),
        ("f_drctl_restore_jobs", f"(f) drctl restore --jobs {RESTORE_JOBS} (opt-in)"),
        ("g_drctl_drill_isolated", "(g) drctl drill (isolated)"),
    ]
    cpu = r["client_cpu_seconds_median"]
    for key, label in labels:
        runs = ", ".join(f"{x:.1f}" for x in r["samples_seconds"][key])
        print(f"  {label:38} {t[key]:8.1f} s   (runs: {runs}; client CPU {cpu[key]:.1f} s)")
    print("  (client CPU: user+sys of the command and its waited-for children, from wait4)")
    dr = r["isolated_drill_seconds"]
    print(f"isolated drill (g), medians: server start-up {dr['instance_start']:.1f} s, restore "
          f"and validation {dr['restore_and_validation']:.1f} s, the rest {dr['rest']:.1f} s "
          f"(stopping and removing the server, drctl, the catalog) of {dr['wall']:.1f} s")
    print(f"sizes: stored {b['stored'] / MIB:,.1f} MiB ({b['stored']:,} bytes), -Fc file "
          f"{b['fc_file'] / MIB:,.1f} MiB ({b['fc_file']:,} bytes)")
    print(f"bytes read from the store per restore: (d) {b['read_per_restore']:,}, "
          f"(f) {b['read_per_restore_jobs']:,} (medians; the most any run read is "
          f"{q['restore_read_over_stored']:.3f} x the stored size, target 1.0)")
    pr = r["per_round_ratio_medians"]
    print("ratios (of the medians; in brackets the median of the per-round ratios, which the "
          "time targets use):")
    print(f"  backup / pg_dump -Fc                   {q['backup_over_pg_dump_fc']:.3f} "
          f"[{pr['backup_over_pg_dump_fc']:.3f}]")
    print(f"  backup / (pg_dump -Fc -Z0 > /dev/null) {q['backup_over_pg_dump_z0_devnull']:.3f} "
          f"[{pr['backup_over_pg_dump_z0_devnull']:.3f}]")
    print(f"  stored size / -Fc file size            {q['stored_over_fc_file']:.3f}")
    print(f"  restore / pg_restore                   {q['restore_over_pg_restore']:.3f} "
          f"[{pr['restore_over_pg_restore']:.3f}]")
    print(f"  restore --jobs {RESTORE_JOBS} / pg_restore          "
          f"[{pr['parallel_restore_over_pg_restore']:.3f}]  (opt-in, not a target)")
    print(f"peak RSS ({rss['method']}):")
    print(f"  backup {rss['backup']:.1f} MiB (runs {rss['backup_runs']}; wait4 ru_maxrss "
          f"{rss['backup_wait4_ru_maxrss']:.1f} MiB)")
    print(f"  restore {rss['restore']:.1f} MiB (runs {rss['restore_runs']}; wait4 ru_maxrss "
          f"{rss['restore_wait4_ru_maxrss']:.1f} MiB)")
    f = r.get("compressibility")
    if f:
        print(f"compressibility of this data ({f['sample_percent']:g}% block sample of every "
              f"table's COPY text, {f['sample_bytes'] / MIB:.0f} MiB; zlib-6 shrinks it "
              f"{f['zlib6_ratio']}x):")
        for row in f["codecs"]:
            print(f"  {row['codec']:22} size {row['over_zlib6']:.3f} x zlib-6   "
                  f"{row['mib_per_cpu_second']:7.1f} MiB per CPU second")
    print("targets:")
    for tg in r["targets"]:
        verdict = "PASS" if tg["pass"] else "FAIL"
        print(f"  {verdict}  {tg['text']:50} measured {tg['value']:.3f} (limit {tg['limit']})")


# --- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds of a..g (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the source database")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a target fails (default: report only)")
    parser.add_argument("--zstd-level", type=int, default=None,
                        help="set [compression] zstd_level in the bench config "
                             "(default: leave it out, i.e. the product default)")
    parser.add_argument("--frontier-levels", default="1,3,9,12,19",
                        help="zstd levels to weigh against zlib-6 on a sample of the data, to "
                             "show what any stored-size target costs in CPU ('' skips it; "
                             "default %(default)s)")
    parser.add_argument("--frontier-percent", type=float, default=2.0,
                        help="block sample size for that, in percent (default 2)")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server URL (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    server = Server(args.server)
    major = server.major()
    pg_dump, pg_restore = find_tool("pg_dump", major), find_tool("pg_restore", major)
    build_source(server, args.rebuild)
    source_size = server.db_size(SOURCE_DB)
    log(f"{SOURCE_DB}: pg_database_size {source_size / MIB:,.0f} MiB ({source_size:,} bytes)")

    config = write_config(server, args.zstd_level)
    cleanup(server, config.parent)  # a fresh catalog and store for every bench run
    fc_rel = (CACHE / "pg_dump.fc").relative_to(ROOT)
    commands = {
        "a": f"drctl --config {config.relative_to(ROOT)} backup {APP} --json",
        "b": f"{pg_dump} -Fc -f {fc_rel} {SOURCE_DB}",
        "c": f"{pg_dump} -Fc -Z0 {SOURCE_DB} > /dev/null",
        "d": f"drctl --config {config.relative_to(ROOT)} restore ID --target-db {RESTORE_DB} "
             "--json",
        "e": f"CREATE DATABASE {PG_RESTORE_DB}; {pg_restore} --exit-on-error "
             f"-d {PG_RESTORE_DB} {fc_rel}",
        "f": f"drctl --config {config.relative_to(ROOT)} restore ID --target-db {RESTORE_DB} "
             f"--jobs {RESTORE_JOBS} --spool-dir {(CACHE / 'spool').relative_to(ROOT)} --json",
        "g": f"drctl --config {config.relative_to(ROOT)} drill {APP} --json",
    }
    log("warm-up (not counted): pg_dump -Fc -Z0 > /dev/null")
    check(run_measured([pg_dump, *server.info.tool_args(), "--no-password", "-Fc", "-Z0",
                        SOURCE_DB], devnull_stdout=True, env=server.info.tool_env()), "warm-up")
    samples = Samples()
    try:
        for i in range(args.runs):
            one_round(i, args.runs, server, config, pg_dump, pg_restore, samples)
    finally:
        cleanup(server, config.parent)
    report = summarize(samples, source_size, args.runs, commands, args.zstd_level)
    levels = [int(x) for x in args.frontier_levels.split(",") if x.strip()]
    if levels:
        log(f"compressibility: zlib-6 and zstd {levels} on a {args.frontier_percent:g}% sample")
        report["compressibility"] = compressibility(server, levels, args.frontier_percent)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_text(report)
    return 1 if args.strict and not report["all_pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
