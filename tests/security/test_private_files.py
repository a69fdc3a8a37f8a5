"""Backups, manifests and keys are their owner's only (issue 15, item 6): written 0600 in
0700 directories whatever the umask, and a key file others can read refused at start with
the chmod that fixes it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import DREnv


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask, 000: what the code asks for is what the files get (the
    drctl subprocesses inherit it)."""
    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_backups_manifests_and_new_keys_are_written_private(dr_env: DREnv,
                                                            open_umask: None) -> None:
    dr_env.drctl("backup", "shop")
    files = [p for p in dr_env.local_dir.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".manifest.json") for p in files), files
    assert len(files) >= 2, files  # the dump and its manifest at least
    loose = {str(p): oct(_mode(p)) for p in files if _mode(p) != 0o600}
    assert not loose, loose
    dirs = [dr_env.local_dir, *(p for p in dr_env.local_dir.rglob("*") if p.is_dir())]
    loose = {str(p): oct(_mode(p)) for p in dirs if _mode(p) != 0o700}
    assert not loose, loose
    key = dr_env.root / "fresh" / "new.key"
    dr_env.drctl("key", "generate", str(key))
    assert _mode(key) == 0o600 and _mode(key.parent) == 0o700


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620], ids=oct)
def test_a_master_key_open_to_others_is_refused(dr_env: DREnv, mode: int) -> None:
    key = dr_env.root / "keys" / "master.key"
    key.chmod(mode)
    try:
        out = dr_env.drctl("backup", "shop", check=False)
        assert out.returncode != 0, out.stdout
        assert f"chmod 600 {key}" in out.stderr and f"{mode:04o}" in out.stderr, out.stderr
        assert not list(dr_env.local_dir.rglob("*.manifest.json")), "backed up regardless"
    finally:
        key.chmod(0o600)
    dr_env.drctl("backup", "shop")  # the fix in the message is the whole fix


def test_a_previous_key_open_to_others_is_refused(dr_env: DREnv) -> None:
    old = dr_env.root / "keys" / "old.key"
    dr_env.drctl("key", "generate", str(old))
    old.chmod(0o640)
    text = dr_env.config_path.read_text().replace(
        'key_file = "keys/master.key"',
        'key_file = "keys/master.key"\nprevious_key_files = ["keys/old.key"]')
    dr_env.config_path.write_text(text)
    out = dr_env.drctl("backup", "shop", check=False)
    assert out.returncode != 0 and f"chmod 600 {old}" in out.stderr, out.stderr


def test_a_jwt_secret_file_open_to_others_is_refused(dr_env: DREnv) -> None:
    secret = dr_env.root / "keys" / "jwt.secret"
    secret.write_text("a-local-secret-of-enough-length-for-hs256-0123456789\n")
    with dr_env.config_path.open("a") as fh:
        fh.write(f'[api]\njwt_secret_env = "DR_TEST_NO_SUCH_VARIABLE"\n'
                 f'jwt_secret_file = "{secret}"\n')
    secret.chmod(0o644)
    out = dr_env.drctl("token", "--role", "viewer", "--subject", "t", check=False)
    assert out.returncode != 0 and f"chmod 600 {secret}" in out.stderr, out.stderr
    assert "JWT secret file" in out.stderr
    secret.chmod(0o600)
    assert dr_env.drctl("token", "--role", "viewer", "--subject", "t").stdout.strip()
