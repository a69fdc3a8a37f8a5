"""Point-in-time recovery under write load: does the WAL streamer keep up, what RPO does it
hold, what does it cost, and how do base backups and recovery compare with PostgreSQL's own
tools on the same server in the same run.

    python bench/pitr.py [--minutes 5] [--scale 30] [--clients 2] [--rounds 3]

On a throwaway PostgreSQL server (wal_level = replica) of its own:
  1. base backups: `drctl base-backup` against `pg_basebackup -Ft -X fetch -D - > /dev/null`,
     alternated, medians and the ratio (target <= 1.3 x);
  2. `drctl wal stream` while pgbench writes at full speed for --minutes: WAL generation
     rate, the streamer's throughput, the lag (server position minus the newest byte a store
     holds) in the first and last thirds (it must not grow), the RPO in effect (now minus
     when the newest held WAL byte was received, sampled each second: p50 and p99, target
     p99 <= 15 s), the streamer's peak RSS (target <= 150 MB) and CPU seconds per GB of WAL;
     a plain `pg_receivewal` into a directory runs beside it (the baseline's WAL);
  3. recovery of those minutes: `drctl restore-server --to-lsn END` against the same replay
     from a local directory with a plain `cp` restore_command, both from base backups taken
     before the load (target <= 1.5 x).
Figures go to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
from pgserver import Server

from dr_assets.core.format.manifest import parse_time
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.instance import as_user, free_port, throwaway_instance
from dr_assets.core.pg.wal_names import Segment, format_lsn, parse_lsn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CATALOG_DB = "dr_bench_pitr_catalog"
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432"
SERVER = "bench"
SAMPLE_SECONDS = 1.0
MIB = 1 << 20


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def drctl() -> str:
    return str(Path(sys.executable).parent / "drctl")


def scalar(url: str, query: str, params: Sequence[Any] = ()) -> Any:
    """One value from a URL naming its database (bench/pgserver.py's Server asks it)."""
    info = ConnInfo.parse(url)
    return Server(url).scalar(query, tuple(params), db=info.dbname)


def proc_status(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def proc_cpu_seconds(pid: int) -> float:
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def timed(argv: Sequence[str], *, stdout_devnull: bool = False, env: dict[str, str] | None = None
          ) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(list(argv), stdout=subprocess.DEVNULL if stdout_devnull else subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv[:3])} failed ({proc.returncode}): "
                         f"{proc.stderr.strip()[-800:]}")
    return seconds, proc.stdout or ""


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def write_config(root: Path, server_url: str) -> Path:
    config = root / "dr-bench-pitr.toml"
    config.write_text(
        "# written by bench/pitr.py\n"
        f'[catalog]\ndatabase_url = "{LOCAL_PG}/{CATALOG_DB}"\n\n'
        '[encryption]\nkey_file = "keys/master.key"\n\n'
        '[[destinations]]\nname = "local"\nkind = "local"\npath = "store"\n\n'
        f'[servers.{SERVER}]\nurl = "{server_url}/postgres"\nslot = "dr_bench"\n'
        "restore_point_minutes = 1000\n\n"
        f'[apps.pgbench]\ndatabase_url = "{server_url}/pgbench"\nserver = "{SERVER}"\n'
        "rto_hours = 4\nrpo_hours = 1\nevery_hours = 24\nretention_days = 7\n"
    )
    timed([drctl(), "key", "generate", str(root / "keys" / "master.key")])
    return config


@dataclass
class Sampled:
    at: list[float] = field(default_factory=list)
    rpo_s: list[float] = field(default_factory=list)
    lag_bytes: list[int] = field(default_factory=list)
    streamer_hwm_kb: int = 0
    receiver_hwm_kb: int = 0


def held_lsn(name: str, written: int | None) -> int:
    seg = Segment.parse(name)
    return seg.start_lsn + written if name.endswith(".partial") and written is not None else seg.end_lsn


def sample(server_url: str, streamer: subprocess.Popen[bytes], stop: threading.Event,
           out: Sampled) -> None:
    catalog = psycopg2.connect(f"{LOCAL_PG}/{CATALOG_DB}")
    catalog.autocommit = True
    source = psycopg2.connect(f"{server_url}/postgres")
    source.autocommit = True
    try:
        while not stop.wait(SAMPLE_SECONDS):
            with source.cursor() as cur:
                cur.execute("SELECT pg_current_wal_lsn()::text")
                lsn_row = cur.fetchone()
                assert lsn_row is not None
                current = parse_lsn(lsn_row[0])
            with catalog.cursor() as cur:
                cur.execute("SELECT name, written_bytes, extract(epoch FROM now() - received_at)"
                            " FROM dr.wal_files WHERE server = %s AND kind <> 'history'"
                            " ORDER BY received_at DESC LIMIT 1", (SERVER,))
                row = cur.fetchone()
            if row is None:
                continue
            out.at.append(time.monotonic())
            out.rpo_s.append(float(row[2]))
            out.lag_bytes.append(max(0, current - held_lsn(row[0], row[1])))
            out.streamer_hwm_kb = max(out.streamer_hwm_kb, proc_status(streamer.pid, "VmHWM"))
            for child in children_of(streamer.pid):
                out.receiver_hwm_kb = max(out.receiver_hwm_kb, proc_status(child, "VmHWM"))
    finally:
        catalog.close()
        source.close()


def wait_for_slot(url: str, slot: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not scalar(url, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: the streamer did not take slot {slot} within {seconds:g} s")
        time.sleep(0.2)


@dataclass
class BaseBackupTimes:
    drctl_s: list[float] = field(default_factory=list)  # the command's wall, start-up included
    pipeline_s: list[float] = field(default_factory=list)  # its manifest's started..finished
    pg_basebackup_s: list[float] = field(default_factory=list)


def base_backups(config: Path, conninfo: str, rounds: int) -> BaseBackupTimes:
    times = BaseBackupTimes()
    for i in range(rounds):
        log(f"base backup round {i + 1}/{rounds}")
        s, out = timed([drctl(), "--config", str(config), "base-backup", SERVER, "--no-verify",
                        "--json"])
        times.drctl_s.append(s)
        manifest = json.loads(out)
        times.pipeline_s.append((parse_time(manifest["finished_at"])
                                 - parse_time(manifest["started_at"])).total_seconds())
        s, _ = timed(["pg_basebackup", "-d", conninfo, "-Ft", "-X", "fetch", "-c", "fast", "-D", "-"],
                     stdout_devnull=True)
        times.pg_basebackup_s.append(s)
    return times


def plain_recovery(instance_bindir: Path, os_user: str | None, base_tar_dir: Path,
                   wal_dir: Path, end_lsn: str, work: Path) -> float:
    """Extract a pg_basebackup tar and replay a directory of WAL with `cp` (the baseline),
    timed from the extraction to the promoted server's clean stop, as drctl restore-server
    is."""
    t0 = time.perf_counter()
    work.mkdir()
    data = work / "plain-data"
    data.mkdir(mode=0o700)
    subprocess.run(["tar", "-xf", str(base_tar_dir / "base.tar"), "-C", str(data)], check=True)
    if (base_tar_dir / "pg_wal.tar").exists():
        subprocess.run(["tar", "-xf", str(base_tar_dir / "pg_wal.tar"), "-C", str(data / "pg_wal")],
                       check=True)
    (data / "recovery.signal").write_text("")
    for p in [work, data, *data.rglob("*")]:
        if os_user:
            shutil.chown(p, os_user)
    if os_user:
        shutil.chown(wal_dir, os_user)
        for p in wal_dir.iterdir():
            shutil.chown(p, os_user)
    port = free_port()
    opts = [f"-p {port}", f"-k {work}", "-c listen_addresses=127.0.0.1",
            f"-c restore_command='cp {wal_dir}/%f %p'", f"-c recovery_target_lsn={end_lsn}",
            "-c recovery_target_action=promote"]
    subprocess.run(as_user(os_user, [str(instance_bindir / "pg_ctl"), "-D", str(data), "-l",
                                     str(work / "plain.log"), "-o", " ".join(opts), "-w", "-t",
                                     "3600", "start"]), check=True, capture_output=True)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    while scalar(url, "SELECT pg_is_in_recovery()"):
        time.sleep(0.05)
    # stopped cleanly, as drctl restore-server leaves its data directory
    subprocess.run(as_user(os_user, [str(instance_bindir / "pg_ctl"), "-D", str(data), "-m",
                                     "fast", "-w", "stop"]), check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--scale", type=int, default=30, help="pgbench scale of the written database")
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="base backup rounds")
    args = ap.parse_args()

    scalar(f"{LOCAL_PG}/postgres", f"DROP DATABASE IF EXISTS {CATALOG_DB} WITH (FORCE)")
    work = Path(tempfile.mkdtemp(prefix="dr-bench-pitr-"))
    work.chmod(0o755)
    settings = {"max_wal_size": "4GB", "checkpoint_timeout": "15min", "max_wal_senders": "10",
                "shared_buffers": "256MB", "wal_keep_size": "0"}
    try:
        with throwaway_instance(15, parent=work, settings=settings) as server:
            server_url = f"postgresql://postgres@127.0.0.1:{server.port}"
            conninfo = f"host=127.0.0.1 port={server.port} user=postgres"
            scalar(f"{server_url}/postgres", "CREATE DATABASE pgbench")
            log(f"pgbench -i -s {args.scale}")
            subprocess.run(["pgbench", "-i", "-q", "-s", str(args.scale), "-h", "127.0.0.1",
                            "-p", str(server.port), "-U", "postgres", "pgbench"],
                           check=True, capture_output=True)
            config = write_config(work, server_url)
            # the streamer first: WAL from before its slot existed is nowhere but the server
            streamer = subprocess.Popen([drctl(), "--config", str(config), "wal", "stream", SERVER],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for_slot(f"{server_url}/postgres", "dr_bench")
            bb = base_backups(config, conninfo, args.rounds)

            # the baseline's base backup and WAL, taken beside ours before the load
            plain_base = work / "plain-base"
            subprocess.run(["pg_basebackup", "-d", conninfo, "-Ft", "-X", "fetch", "-c", "fast",
                            "-D", str(plain_base)], check=True, capture_output=True)
            plain_wal = work / "plain-wal"
            plain_wal.mkdir()
            scalar(f"{server_url}/postgres",
                   "SELECT pg_create_physical_replication_slot('bench_plain', true)")
            receiver = subprocess.Popen(["pg_receivewal", "-d", conninfo, "-S", "bench_plain",
                                         "-D", str(plain_wal), "--no-loop"],
                                        stderr=subprocess.DEVNULL)
            start_lsn = parse_lsn(scalar(f"{server_url}/postgres", "SELECT pg_current_wal_lsn()::text"))
            cpu0 = proc_cpu_seconds(streamer.pid)
            samples = Sampled()
            stop = threading.Event()
            sampler = threading.Thread(target=sample, args=(server_url, streamer, stop, samples))
            sampler.start()
            log(f"pgbench -c {args.clients} for {args.minutes:g} min with the streamer running")
            t0 = time.monotonic()
            subprocess.run(["pgbench", "-c", str(args.clients), "-j", str(args.clients), "-T",
                            str(int(args.minutes * 60)), "-h", "127.0.0.1", "-p", str(server.port),
                            "-U", "postgres", "pgbench"], check=True, capture_output=True)
            load_seconds = time.monotonic() - t0
            end_lsn_text = scalar(f"{server_url}/postgres", "SELECT pg_current_wal_lsn()::text")
            end_lsn = parse_lsn(end_lsn_text)
            cpu = proc_cpu_seconds(streamer.pid) - cpu0
            # let both receivers hold the end of the load, then stop them
            scalar(f"{server_url}/postgres", "SELECT pg_switch_wal()")
            deadline = time.monotonic() + 120
            end_seg = Segment.of(1, end_lsn).name
            while time.monotonic() < deadline:
                held = scalar(f"{LOCAL_PG}/{CATALOG_DB}",
                              "SELECT count(*) FROM dr.wal_files WHERE server = %s AND name = %s",
                              (SERVER, end_seg))
                if held and (plain_wal / end_seg).exists():
                    break
                time.sleep(0.5)
            catch_up = time.monotonic() - t0 - load_seconds
            stop.set()
            sampler.join()
            streamer.send_signal(signal.SIGTERM)
            streamer.wait(60)
            receiver.terminate()
            receiver.wait(30)
            for partial in plain_wal.glob("*.partial"):
                partial.rename(partial.with_suffix(""))

            log("recovery: drctl restore-server against a cp restore_command")
            ours_dir = work / "ours-data"
            t1 = time.perf_counter()
            _s, out = timed([drctl(), "--config", str(config), "restore-server", SERVER,
                             "--to-lsn", end_lsn_text, "--data-dir", str(ours_dir), "--json"])
            ours_recovery = time.perf_counter() - t1
            ours_report = json.loads(out)
            plain_recovery_s = plain_recovery(server.bindir, server.os_user, plain_base, plain_wal,
                                              end_lsn_text, work / "plain")

        wal_bytes = end_lsn - start_lsn
        third = max(1, len(samples.lag_bytes) // 3)
        first_lag = statistics.median(samples.lag_bytes[:third]) if samples.lag_bytes else 0
        last_lag = statistics.median(samples.lag_bytes[-third:]) if samples.lag_bytes else 0
        theirs_bb = statistics.median(bb.pg_basebackup_s)
        bb_ratio = statistics.median(bb.drctl_s) / theirs_bb
        bb_pipeline_ratio = statistics.median(bb.pipeline_s) / theirs_bb
        rec_ratio = ours_recovery / plain_recovery_s if plain_recovery_s else float("nan")
        rpo99 = pct(samples.rpo_s, 99)
        gb = wal_bytes / (1 << 30)
        report = {
            "load_seconds": round(load_seconds, 1),
            "wal_bytes": wal_bytes,
            "wal_generation_mib_s": round(wal_bytes / MIB / load_seconds, 2),
            "streamer_throughput_mib_s": round(wal_bytes / MIB / (load_seconds + max(catch_up, 0)), 2),
            "catch_up_after_load_s": round(catch_up, 1),
            "lag_median_first_third_mib": round(first_lag / MIB, 2),
            "lag_median_last_third_mib": round(last_lag / MIB, 2),
            "rpo_p50_s": round(pct(samples.rpo_s, 50), 2),
            "rpo_p99_s": round(rpo99, 2),
            "rpo_samples": len(samples.rpo_s),
            "streamer_peak_rss_mb": round(samples.streamer_hwm_kb / 1024, 1),
            "pg_receivewal_peak_rss_mb": round(samples.receiver_hwm_kb / 1024, 1),
            "streamer_cpu_s_per_gb_wal": round(cpu / gb, 1) if gb else None,
            "base_backup_drctl_median_s": round(statistics.median(bb.drctl_s), 2),
            "base_backup_pipeline_median_s": round(statistics.median(bb.pipeline_s), 2),
            "base_backup_pg_basebackup_median_s": round(theirs_bb, 2),
            "base_backup_ratio": round(bb_ratio, 3),
            "base_backup_pipeline_ratio": round(bb_pipeline_ratio, 3),
            "recovery_drctl_s": round(ours_recovery, 2),
            "recovery_cp_restore_command_s": round(plain_recovery_s, 2),
            "recovery_ratio": round(rec_ratio, 3),
            "recovered_to": end_lsn_text,
            "drctl_recovery_report": ours_report,
            "at": datetime.now(UTC).isoformat(),
        }
        print(json.dumps(report, indent=2, default=str))
        verdicts = [
            ("lag does not grow", last_lag <= max(first_lag * 2, 32 * MIB)),
            ("RPO p99 <= 15 s", rpo99 <= 15),
            ("streamer peak RSS <= 150 MB", samples.streamer_hwm_kb / 1024 <= 150),
            ("base backup <= 1.3 x pg_basebackup (drctl's wall, interpreter start-up included)",
             bb_ratio <= 1.3),
            ("base backup <= 1.3 x pg_basebackup (the pipeline, as a Dagster run pays it)",
             bb_pipeline_ratio <= 1.3),
            ("recovery <= 1.5 x cp restore_command", rec_ratio <= 1.5),
        ]
        for what, ok in verdicts:
            print(f"{'PASS' if ok else 'FAIL'}  {what}")
        print(f"(WAL {format_lsn(start_lsn)} .. {end_lsn_text}, {gb:.2f} GB in {load_seconds:.0f} s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        scalar(f"{LOCAL_PG}/postgres", f"DROP DATABASE IF EXISTS {CATALOG_DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
