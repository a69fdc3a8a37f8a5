"""An S3 bucket (AWS or compatible: SeaweedFS, MinIO); large objects by multipart upload.

Uploads run in a background thread fed through a bounded queue, so a slow or dead S3
endpoint neither holds the whole backup in memory nor stalls the other destinations.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dr_assets.core.errors import StoreError
from dr_assets.core.policy import DestinationConfig
from dr_assets.core.stores.base import READ_BLOCK, ListedObject

MIN_PART = 5 << 20
MAX_PARTS = 10_000
_QUEUE_BLOCKS = 32
_DONE = object()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip()
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class S3Writer:
    def __init__(self, store: S3Store, key: str) -> None:
        self._store = store
        self._key = store.full_key(key)
        self._part_size = store.part_size
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

    def _flush_part(self, buf: bytearray) -> None:
        s3, bucket = self._store.client, self._store.bucket
        if self._upload_id is None:
            created = s3.create_multipart_upload(Bucket=bucket, Key=self._key, **self._store.put_extra())
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StoreError(f"more than {MAX_PARTS} parts: raise part_size_mb")
        resp = s3.upload_part(
            Bucket=bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=bytes(buf)
        )
        self._parts.append({"ETag": resp["ETag"], "PartNumber": number})

    def _run(self) -> None:
        buf = bytearray()
        try:
            while True:
                item = self._queue.get()
                if item is _DONE:
                    break
                buf += item
                if len(buf) >= self._part_size:
                    self._flush_part(buf)
                    buf.clear()
            if self._aborted:
                return
            s3, bucket = self._store.client, self._store.bucket
            if self._upload_id is None:
                # Small object: a single PUT is atomic too.
                s3.put_object(Bucket=bucket, Key=self._key, Body=bytes(buf), **self._store.put_extra())
            else:
                if buf:
                    self._flush_part(buf)
                s3.complete_multipart_upload(
                    Bucket=bucket, Key=self._key, UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
            self._completed = True
        except Exception as exc:
            self._error = _reason(exc)
            self._drain()

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
        elif self._upload_id is not None:
            # An unfinished upload is invisible; if this abort fails, sync removes it later.
            with contextlib.suppress(BotoCoreError, ClientError):
                self._store.client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self._key, UploadId=self._upload_id
                )


class S3Store:
    kind = "s3"

    def __init__(self, dest: DestinationConfig) -> None:
        self.name = dest.name
        self.bucket = dest.bucket
        self.prefix = dest.prefix
        self.endpoint_url = dest.endpoint_url
        self.part_size = max(MIN_PART, dest.part_size_mb << 20)
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
                connect_timeout=5,
                read_timeout=60,
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

    def cleanup_partials(self, older_than_seconds: float) -> int:
        cutoff = time.time() - older_than_seconds
        removed = 0
        resp = self._call("listing uploads", "", self.client.list_multipart_uploads,
                          Prefix=f"{self.prefix}/" if self.prefix else "")
        for up in resp.get("Uploads", []):
            if up["Initiated"].timestamp() < cutoff:
                self._call("abort", up["Key"], self.client.abort_multipart_upload,
                           Key=up["Key"], UploadId=up["UploadId"])
                removed += 1
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
