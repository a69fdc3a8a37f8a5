"""The local SeaweedFS (`make up` and the tests' own) exposes S3 only (issue 15, item 6):
every other port weed mini listens on refuses anonymous listings and reads of the bucket,
over HTTP and over gRPC, while S3 with the credentials still works."""

from __future__ import annotations

import secrets
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import httpx
from botocore.exceptions import ClientError

from dr_assets.devstack import seaweed
from tests.support.env import BUCKET

LIST_ENTRIES = "/filer_pb.SeaweedFiler/ListEntries"


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process PID listens on, from its sockets and /proc/net/tcp{,6}."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _string_field(number: int, value: str) -> bytes:
    raw = value.encode()
    return bytes([number << 3 | 2, len(raw)]) + raw  # protobuf: a short length-delimited field


def grpc_listing(port: int, directory: str, credentials: grpc.ChannelCredentials | None
                 ) -> bytes | grpc.RpcError:
    """The filer's ListEntries of DIRECTORY as raw bytes (the request hand-encoded: field 1
    is the directory), or the error the port answers with."""
    target = f"127.0.0.1:{port}"
    channel = (grpc.secure_channel(target, credentials) if credentials is not None
               else grpc.insecure_channel(target))
    with channel:
        call = channel.unary_stream(LIST_ENTRIES, request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        try:
            return b"".join(call(_string_field(1, directory), timeout=3))
        except grpc.RpcError as exc:
            return exc


def http_get(url: str) -> tuple[int | None, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status, resp.read(1 << 20)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1 << 20)
    except OSError:  # not HTTP at all (a gRPC port with TLS closes the connection)
        return None, b""


def test_only_s3_answers_and_only_with_credentials(s3_server: seaweed.SeaweedServer) -> None:
    key = f"app-{secrets.token_hex(4)}/backup.manifest.json"
    marker = f"SECRET-{secrets.token_hex(8)}".encode()
    s3 = s3_server.client()
    s3.put_object(Bucket=BUCKET, Key=key, Body=marker)  # type: ignore[attr-defined]
    app = key.split("/")[0]

    ports = listening_ports(s3_server.pid) - {s3_server.s3_port}
    assert ports, "weed mini listens on more than S3 (its master, volume, filer, admin)"
    paths = [f"/buckets/{BUCKET}/{key}", f"/buckets/{BUCKET}/", f"/buckets/{BUCKET}/{app}/",
             f"/{BUCKET}/{key}", "/", "/dir/status", "/dir/lookup?volumeId=1", "/vol/status",
             "/status", "/1,01", "/api/s3/buckets", "/metrics"]
    leaks = {}
    for port in sorted(ports):
        for path in paths:
            status, body = http_get(f"http://127.0.0.1:{port}{path}")
            if marker in body or app.encode() in body:
                leaks[f"{port}{path}"] = (status, body[:200])
        for directory in (f"/buckets/{BUCKET}", f"/buckets/{BUCKET}/{app}"):
            for name, credentials in (("plaintext", None),
                                      ("TLS without a client certificate",
                                       grpc.ssl_channel_credentials())):
                answer = grpc_listing(port, directory, credentials)
                if isinstance(answer, bytes):
                    leaks[f"{port} gRPC ({name}) {directory}"] = answer[:200]
    assert not leaks, leaks

    # S3 itself: the object for the credentials, nothing without them.
    got = s3.get_object(Bucket=BUCKET, Key=key)  # type: ignore[attr-defined]
    assert got["Body"].read() == marker
    anonymous = httpx.get(f"{s3_server.endpoint}/{BUCKET}/{key}", timeout=5)
    assert anonymous.status_code == 403 and marker not in anonymous.content
    listing = httpx.get(f"{s3_server.endpoint}/{BUCKET}?list-type=2", timeout=5)
    assert listing.status_code == 403 and app not in listing.text
    try:
        seaweed.SeaweedServer(s3_server.pid, s3_server.s3_port, s3_server.data_dir, "drdemo",
                              "not-the-secret").client().get_object(  # type: ignore[attr-defined]
            Bucket=BUCKET, Key=key)
        raise AssertionError("S3 served the object to a wrong secret key")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")


def test_weed_secrets_are_private(s3_server: seaweed.SeaweedServer) -> None:
    """The JWT keys, the gRPC certificate's key and the S3 identity: 0600, in a
    0700 data directory."""
    data_dir = s3_server.data_dir
    assert data_dir.stat().st_mode & 0o777 == 0o700
    for path in (data_dir / "security.toml", data_dir / "s3-identity.json",
                 data_dir / "grpc-tls" / "grpc.key"):
        assert path.stat().st_mode & 0o777 == 0o600, path
