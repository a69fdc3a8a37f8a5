"""Master keys: generation, loading by key id, wrapping of per-backup data keys, and the
keys derived from a data key for the other objects of a backup."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dr_assets.core.errors import IntegrityError, MasterKeyError
from dr_assets.core.format.private_files import create_private, loose_mode, private_dirs
from dr_assets.core.policy import EncryptionConfig

KEY_BYTES = 32


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    secret: bytes = field(repr=False)

    @classmethod
    def from_bytes(cls, secret: bytes) -> MasterKey:
        if len(secret) != KEY_BYTES:
            raise MasterKeyError(f"a master key must be {KEY_BYTES} bytes, got {len(secret)}")
        key_id = hashlib.sha256(b"pgdr-key-id\0" + secret).hexdigest()[:16]
        return cls(key_id=key_id, secret=secret)

    @classmethod
    def from_text(cls, text: str, where: str) -> MasterKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except ValueError:
            raise MasterKeyError(
                f"{where} is not base64: create a key with `drctl key generate PATH`"
            ) from None
        try:
            return cls.from_bytes(raw)
        except MasterKeyError as exc:
            raise MasterKeyError(f"{where}: {exc}: create one with `drctl key generate PATH`") from None

    def wrap(self, data_key: bytes, backup_id: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.secret).encrypt(nonce, data_key, _wrap_aad(backup_id))
        return base64.b64encode(nonce + sealed).decode()

    def unwrap(self, wrapped: str, backup_id: str) -> bytes:
        blob = base64.b64decode(wrapped)
        try:
            return AESGCM(self.secret).decrypt(blob[:12], blob[12:], _wrap_aad(backup_id))
        except InvalidTag:
            raise IntegrityError(
                f"the data key of {backup_id} does not unwrap with master key {self.key_id}: "
                "the manifest belongs to another backup or was altered"
            ) from None


def _wrap_aad(backup_id: str) -> bytes:
    return b"pgdr-data-key\0" + backup_id.encode()


@dataclass(frozen=True)
class Keyring:
    """The current key encrypts new backups; previous keys keep old backups readable."""

    current: MasterKey
    previous: tuple[MasterKey, ...] = ()

    def get(self, key_id: str) -> MasterKey:
        for key in (self.current, *self.previous):
            if key.key_id == key_id:
                return key
        raise MasterKeyError(
            f"master key {key_id} is not configured: add its file to "
            "[encryption] previous_key_files in dr.toml"
        )

    def data_key(self, key_id: str, wrapped_key: str, backup_id: str) -> bytes:
        """A backup's data key, unwrapped by the master key it names (bound to its id)."""
        return self.get(key_id).unwrap(wrapped_key, backup_id)


def generate_key_file(path: Path) -> MasterKey:
    if path.exists():
        raise MasterKeyError(f"{path} already exists: refusing to overwrite a master key")
    private_dirs(path.parent)
    secret = os.urandom(KEY_BYTES)
    with os.fdopen(create_private(path), "w") as fh:
        fh.write(base64.b64encode(secret).decode() + "\n")
    return MasterKey.from_bytes(secret)


def read_key_file(path: Path) -> MasterKey:
    """The key in PATH; refused when others than its owner may read it (see private_files)."""
    loose = loose_mode(path)
    if loose is not None:
        raise MasterKeyError(f"master key file {loose}")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise MasterKeyError(
            f"master key file {path} does not exist: create it with `drctl key generate {path}`"
        ) from None
    return MasterKey.from_text(text, str(path))


def load_keyring(enc: EncryptionConfig) -> Keyring:
    if enc.key_env:
        text = os.environ.get(enc.key_env)
        if not text:
            raise MasterKeyError(
                f"environment variable {enc.key_env} (encryption.key_env) is empty: "
                "export the base64 master key in it"
            )
        current = MasterKey.from_text(text, f"${enc.key_env}")
    else:
        assert enc.key_file is not None
        current = read_key_file(enc.key_file)
    previous = tuple(read_key_file(p) for p in enc.previous_key_files)
    return Keyring(current=current, previous=previous)


def derived_key(data_key: bytes, purpose: bytes) -> bytes:
    """A key of the backup's own for a second object stored beside the dump. The stream's
    nonces are chunk indexes, so two streams under one key would reuse nonces: each object
    other than the dump is sealed under HKDF-SHA256(data key, purpose) instead."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=b"pgdr-derived-key\0" + purpose).derive(data_key)
