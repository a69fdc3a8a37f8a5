"""Files only their owner may read: key files are refused when others can read them, and
the files the control plane writes (backups, manifests, keys) are created 0600 in 0700
directories, whatever the umask.

One shape of group-readable key file is accepted: owned by root, group one of this
process's own groups, readable but not writable by that group, nothing for others (mode
0440 or 0640) -- a Kubernetes Secret volume mounted with `defaultMode: 0440` and the
pod's `fsGroup`, whose group holds only the pod's own user."""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
_OTHERS = 0o077  # any bit for group or others
_SECRET_VOLUME = 0o040  # group read: the one bit a root-owned Secret volume may carry


def loose_mode(path: Path) -> str | None:
    """Why PATH is readable by others than its owner (with the fix), or None when it is not.
    A missing file is not loose: the caller says it is missing."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    extra = st.st_mode & _OTHERS
    if not extra:
        return None
    if (extra == _SECRET_VOLUME and st.st_uid == 0 and os.geteuid() != 0
            and st.st_gid in {os.getegid(), *os.getgroups()}):
        return None
    who = "others" if extra & 0o007 else "its group"
    return (f"{path} is open to {who} (mode {stat.S_IMODE(st.st_mode):04o}): a key must be "
            f"readable by its owner only: run `chmod 600 {path}`")


def private_dirs(path: Path) -> None:
    """mkdir -p PATH, each directory it creates 0700 (existing ones are left as they are)."""
    missing = []
    for parent in (path, *path.parents):
        if parent.exists():
            break
        missing.append(parent)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(directory, DIR_MODE)  # mkdir's mode passes through the umask


def create_private(path: Path, *, exclusive: bool = True) -> int:
    """A new file open for writing, mode 0600 exactly (the umask can only take bits away
    from it; fchmod gives back the owner's should the umask take those)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd
