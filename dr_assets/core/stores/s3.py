"""An S3 bucket (AWS or compatible: SeaweedFS, MinIO); large objects by multipart upload.

Uploads run in a background thread fed through a bounded queue, so a slow or dead S3
endpoint neither holds the whole backup in memory nor stalls the other destinations. Parts
are cut at exactly the sizes of the store's PartSchedule (growing, see parts.py), and the
thread holds one part at a time: its memory is the current part plus the queue.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import IO, Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dr_assets.core.errors import StoreError
from dr_assets.core.policy import DestinationConfig
from dr_assets.core.stores.base import READ_BLOCK, ListedObject
from dr_assets.core.stores.parts import MIN_PART, PartSchedule, size_text

_QUEUE_BLOCKS = 32
_DONE = object()
CONNECT_TIMEOUT = 5.0  # seconds; also bounds each send of a request body's block
READ_TIMEOUT = 60.0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip()
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class _PartBody(io.RawIOBase):
    """A part's buffer as a seekable file, so a part of up to 1 GiB is neither copied into
    bytes nor handed whole to the socket: botocore sends a bytearray body in one sendall(),
    which must finish within the connect timeout (5 s); a file goes out block by block."""

    def __init__(self, buf: bytearray) -> None:
        super().__init__()
        self._view = memoryview(buf)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = max(0, min(len(b), len(self._view) - self._pos))
        b[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def _body(buf: bytearray) -> IO[bytes]:
    return cast(IO[bytes], _PartBody(buf))  # a binary file, as botocore's stubs want


class S3Writer:
    def __init__(self, store: S3Store, key: str) -> None:
        self._store = store
        self._key = store.full_key(key)
        self._schedule = store.parts
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_BLOCKS)
        self._error: str | None = None
        self._upload_id: str | None = None
        self._parts: list[Any] = []
        self._aborted = False
        self._completed = False
        self._thread = threading.Thread(target=self._run, name=f"s3-upload-{store.name}", daemon=True)
        self._thread.start()

    def _fail_message(self) -> str:
        return f"{self._store.describe_full(self._key)}: upload failed: {self._error}"

    def write(self, data: bytes) -> None:
        while True:
            if self._error is not None:
                raise StoreError(self._fail_message())
            try:
                self._queue.put(data, timeout=0.5)
                return
            except queue.Full:
                continue

    def _next_part_size(self) -> int:
        number = len(self._parts) + 1
        if number > self._schedule.max_parts:
            fix = ("S3 stores at most 5 TiB in one object" if self._schedule.grows
                   else "set grow_parts = true or raise part_size_mb")
            raise StoreError(
                f"the object outgrew its multipart upload: {self._schedule.describe()} hold "
                f"{size_text(self._schedule.capacity())}; {fix}")
        return self._schedule.size(number)

    def _flush_part(self, buf: bytearray) -> None:
        s3, bucket = self._store.client, self._store.bucket
        if self._upload_id is None:
            created = s3.create_multipart_upload(Bucket=bucket, Key=self._key, **self._store.put_extra())
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        resp = s3.upload_part(
            Bucket=bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number,
            Body=_body(buf),
        )
        self._parts.append({"ETag": resp["ETag"], "PartNumber": number})

    def _run(self) -> None:
        buf = bytearray()
        try:
            while (item := self._queue.get()) is not _DONE:
                view = memoryview(item)
                while view:
                    size = self._next_part_size()
                    taken = min(len(view), size - len(buf))
                    buf += view[:taken]
                    view = view[taken:]
                    if len(buf) == size:
                        self._flush_part(buf)
                        buf = bytearray()
            if self._aborted:
                self._abort_upload()
                return
            s3, bucket = self._store.client, self._store.bucket
            if self._upload_id is None:
                # Small object: a single PUT is atomic too.
                s3.put_object(Bucket=bucket, Key=self._key, Body=_body(buf), **self._store.put_extra())
            else:
                if buf:
                    self._flush_part(buf)
                s3.complete_multipart_upload(
                    Bucket=bucket, Key=self._key, UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
            self._completed = True
        except Exception as exc:
            # Nothing is left behind even if the caller never calls abort(): the upload is
            # gone before write() or commit() report the failure.
            self._abort_upload()
            self._error = _reason(exc)
            self._drain()

    def _abort_upload(self) -> None:
        # An unfinished upload is invisible; if this abort fails, sync removes it later.
        if self._upload_id is not None:
            with contextlib.suppress(BotoCoreError, ClientError):
                self._store.client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self._key, UploadId=self._upload_id
                )

    def _drain(self) -> None:
        # Unblock a producer waiting on a full queue after we failed.
        while True:
            try:
                if self._queue.get_nowait() is _DONE:
                    return
            except queue.Empty:
                return

    def commit(self) -> None:
        while self._thread.is_alive() and self._error is None:
            try:
                self._queue.put(_DONE, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self._error is not None:
            self.abort()
            raise StoreError(self._fail_message())

    def abort(self) -> None:
        if self._aborted:
            return
        self._aborted = True
        if self._error is None:
            self._error = "aborted"
        self._drain()
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_DONE)
            self._thread.join(timeout=30)
        if self._completed:
            with contextlib.suppress(BotoCoreError, ClientError):
                self._store.client.delete_object(Bucket=self._store.bucket, Key=self._key)
        else:
            self._abort_upload()


class S3Store:
    kind = "s3"

    def __init__(self, dest: DestinationConfig, parts: PartSchedule | None = None) -> None:
        """`parts` replaces the schedule from `part_size_mb` and `grow_parts` (tests lower
        its part limit)."""
        self.name = dest.name
        self.bucket = dest.bucket
        self.prefix = dest.prefix
        self.endpoint_url = dest.endpoint_url
        self.parts = parts or PartSchedule(
            first=max(MIN_PART, dest.part_size_mb << 20), grows=dest.grow_parts)
        self.sse = dest.sse
        self.object_lock_days = dest.object_lock_days
        session = boto3.session.Session(
            aws_access_key_id=dest.access_key_id,
            aws_secret_access_key=dest.secret_access_key,
            region_name=dest.region,
        )
        self.client = session.client(
            "s3",
            endpoint_url=dest.endpoint_url,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=16,
            ),
        )

    def full_key(self, key: str) -> str:
        if ".." in key.split("/"):
            raise StoreError(f"{self.name}: refusing key {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe_full(self, full_key: str) -> str:
        return f"{self.name} (s3://{self.bucket}/{full_key})"

    def describe(self, key: str) -> str:
        return self.describe_full(self.full_key(key))

    def put_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.sse:
            extra["ServerSideEncryption"] = self.sse
        if self.object_lock_days:
            extra["ObjectLockMode"] = "COMPLIANCE"
            extra["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(
                days=self.object_lock_days
            )
        return extra

    def _call(self, what: str, key: str, fn: Any, **kw: Any) -> Any:
        try:
            return fn(Bucket=self.bucket, **kw)
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"{self.describe(key)}: {what} failed: {_reason(exc)}") from None

    def open_writer(self, key: str) -> S3Writer:
        return S3Writer(self, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        self._call("upload", key, self.client.put_object, Key=self.full_key(key), Body=data,
                   **self.put_extra())

    def get_bytes(self, key: str) -> bytes:
        resp = self._call("download", key, self.client.get_object, Key=self.full_key(key))
        try:
            return bytes(resp["Body"].read())
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"{self.describe(key)}: download failed: {_reason(exc)}") from None

    def iter_object(self, key: str, block: int = READ_BLOCK) -> Iterator[bytes]:
        resp = self._call("download", key, self.client.get_object, Key=self.full_key(key))
        body = resp["Body"]
        try:
            while chunk := body.read(block):
                yield chunk
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"{self.describe(key)}: download failed: {_reason(exc)}") from None
        finally:
            body.close()

    def size(self, key: str) -> int | None:
        try:
            resp = self.client.head_object(Bucket=self.bucket, Key=self.full_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StoreError(f"{self.describe(key)}: stat failed: {_reason(exc)}") from None
        except BotoCoreError as exc:
            raise StoreError(f"{self.describe(key)}: stat failed: {_reason(exc)}") from None
        return int(resp["ContentLength"])

    def _listing(self, under: str, **kw: Any) -> Iterator[Any]:
        """The pages of a list_objects_v2 under a store-relative prefix."""
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            yield from paginator.paginate(Bucket=self.bucket, Prefix=base + under, **kw)
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"{self.name} (s3://{self.bucket}/{base}{under}): listing failed: "
                             f"{_reason(exc)}") from None

    def list_keys(self, under: str = "") -> Iterator[str]:
        for obj in self.list_objects(under):
            yield obj.key

    def list_objects(self, under: str = "") -> Iterator[ListedObject]:
        cut = len(f"{self.prefix}/" if self.prefix else "")
        for page in self._listing(under):
            for obj in page.get("Contents", []):
                yield ListedObject(obj["Key"][cut:], int(obj["Size"]),
                                   f"{obj.get('ETag', '')}@{obj['LastModified'].isoformat()}")

    def list_folders(self, under: str = "") -> list[str]:
        cut = len(f"{self.prefix}/" if self.prefix else "") + len(under)
        return sorted(p["Prefix"][cut:].rstrip("/") for page in self._listing(under, Delimiter="/")
                      for p in page.get("CommonPrefixes", []))

    def delete(self, key: str) -> None:
        self._call("delete", key, self.client.delete_object, Key=self.full_key(key))

    def cleanup_partials(self, older_than_seconds: float, keep: Collection[str] = ()) -> int:
        cutoff = time.time() - older_than_seconds
        kept = tuple(self.full_key(k) for k in keep)
        return self._abort_uploads(f"{self.prefix}/" if self.prefix else "", lambda up: (
            up["Initiated"].timestamp() < cutoff and not up["Key"].startswith(kept)))

    def remove_partials(self, key_prefix: str) -> int:
        return self._abort_uploads(self.full_key(key_prefix), lambda up: True)

    def _abort_uploads(self, prefix: str, chosen: Callable[[Any], bool]) -> int:
        """Abort the multipart uploads under `prefix` that `chosen` picks, page by page."""
        removed = 0
        try:
            for page in self.client.get_paginator("list_multipart_uploads").paginate(
                    Bucket=self.bucket, Prefix=prefix):
                for up in page.get("Uploads", []):
                    if chosen(up):
                        self._call("abort", up["Key"], self.client.abort_multipart_upload,
                                   Key=up["Key"], UploadId=up["UploadId"])
                        removed += 1
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"{self.describe_full(prefix)}: listing uploads failed: "
                             f"{_reason(exc)}") from None
        return removed

    def locked_until(self, key: str) -> datetime | None:
        """The S3 Object Lock retain-until date of a key, if it has one."""
        if not self.object_lock_days:
            return None
        try:
            resp = self.client.get_object_retention(Bucket=self.bucket, Key=self.full_key(key))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NoSuchObjectLockConfiguration", "InvalidRequest",
                        "ObjectLockConfigurationNotFoundError"):
                return None
            raise StoreError(f"{self.describe(key)}: lock lookup failed: {_reason(exc)}") from None
        except BotoCoreError as exc:
            raise StoreError(f"{self.describe(key)}: lock lookup failed: {_reason(exc)}") from None
        until = resp.get("Retention", {}).get("RetainUntilDate")
        return until.astimezone(UTC) if until else None

    def check(self) -> None:
        self._call("bucket check", "", self.client.head_bucket)
