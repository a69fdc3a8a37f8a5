"""The one wrapper for external tools, with real processes: exit codes it allows, stderr in
the message, a password only in the child's environment, streaming both ways, and a child
that never outlives a caller who raised."""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dr_assets.core.errors import ToolError
from dr_assets.core.pg.binaries import find_tool
from dr_assets.core.pg.command import STDERR_KEPT, ToolFailed, run, spawned, through
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.sessions import server_major
from tests.support.pg import PG_URL, run_sql

SECRET = "s3cret-Пароль"


def gone(pid: int) -> bool:
    """Reaped: not even a zombie is left in /proc."""
    return not Path(f"/proc/{pid}").exists()


def test_exit_codes_outside_allowed_fail_with_the_last_stderr_lines() -> None:
    script = "echo one >&2; echo two >&2; echo three >&2; echo four >&2; exit 3"
    with pytest.raises(ToolFailed) as failed:
        run(["sh", "-c", script])
    assert str(failed.value) == "sh failed (exit 3): two | three | four"
    assert failed.value.exit_code == 3 and isinstance(failed.value, ToolError)
    assert run(["sh", "-c", "echo out; exit 3"], allowed=(0, 3)) == "out\n"
    with pytest.raises(ToolFailed, match=r"exit 0\): no error output"):
        run(["true"], allowed=(1,))


def test_stderr_is_drained_but_only_its_tail_is_kept() -> None:
    # 4 MiB of stderr would fill the pipe and hang a tool nobody drains.
    script = "head -c 4194304 /dev/zero | tr '\\0' x >&2; echo >&2; echo last words >&2; exit 1"
    with pytest.raises(ToolFailed) as failed:
        run(["sh", "-c", script])
    assert len(failed.value.stderr) <= STDERR_KEPT
    assert failed.value.last_lines.endswith("last words")


def test_a_tool_that_cannot_start_is_a_tool_error() -> None:
    with pytest.raises(ToolError, match="no-such-tool could not be started"):
        run(["/nonexistent/no-such-tool", "--version"])


def test_tool_failed_survives_pickling() -> None:
    again = pickle.loads(pickle.dumps(ToolFailed("pg_dump", 1, "FATAL: gone\n")))
    assert (again.tool, again.exit_code, str(again)) == ("pg_dump", 1, "pg_dump failed (exit 1): FATAL: gone")


def test_the_password_is_in_the_childs_environment_never_its_command_line() -> None:
    info = ConnInfo.parse(f"postgresql://postgres:{SECRET}@127.0.0.1:5432/postgres")
    with spawned(["cat"], env=info.tool_env(), stdin=True) as child:
        cmdline = Path(f"/proc/{child.pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{child.pid}/environ").read_bytes().split(b"\0")
    assert SECRET.encode() not in cmdline
    assert f"PGPASSWORD={SECRET}".encode() in environ
    assert os.environ.get("PGPASSWORD") != SECRET  # nor in ours


def test_a_real_pg_dump_sees_the_password_only_in_its_environment(
    make_db: Callable[[str], str],
) -> None:
    db = make_db("pwenv")
    run_sql(db, "CREATE TABLE t AS SELECT g FROM generate_series(1, 50000) g")
    info = ConnInfo.parse(f"{PG_URL}/{db}")
    info = ConnInfo.parse(f"postgresql://{info.user}:{SECRET}@{info.host}:{info.port}/{db}")
    pg_dump = find_tool("pg_dump", server_major(info))
    with spawned([pg_dump, *info.tool_args(), "--no-password", "-d", db], env=info.tool_env(),
                 stdout=True) as dump:
        cmdline = Path(f"/proc/{dump.pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{dump.pid}/environ").read_bytes().split(b"\0")
        sql = dump.stdout.read()
    assert SECRET.encode() not in cmdline and f"PGPASSWORD={SECRET}".encode() in environ
    assert b"CREATE TABLE public.t" in sql


def test_streaming_in_and_out_through_cat_more_than_the_pipes_hold() -> None:
    block = os.urandom(1 << 16)
    blocks = 256  # 16 MiB: many times the 1 MiB stdin pipe and the 64 KiB stdout pipe
    sent, got = hashlib.sha256(), hashlib.sha256()

    def chunks() -> Iterator[bytes]:
        for _ in range(blocks):
            sent.update(block)
            yield block

    with spawned(["cat"], stdin=True, stdout=True) as child:
        feeder = threading.Thread(target=lambda: (child.feed(chunks()), child.end_input()))
        feeder.start()
        total = 0
        while data := child.stdout.read1(1 << 20):
            got.update(data)
            total += len(data)
        feeder.join()
    assert total == blocks * len(block) and sent.digest() == got.digest()


def test_a_tool_that_stops_reading_fails_even_with_exit_0() -> None:
    """pg_restore that quits early must not pass for a complete load."""
    with pytest.raises(ToolFailed, match=r"head failed \(exit 0\)"), \
            spawned(["head", "-c", "10"], stdin=True) as child:
        child.feed(os.urandom(1 << 16) for _ in range(64))


def test_through_feeds_and_collects_at_once_and_may_allow_a_partial_read() -> None:
    block = os.urandom(1 << 16)
    # Both ways at once: 8 MiB through cat, far more than either pipe holds.
    assert through(["cat"], (block for _ in range(128))) == block * 128
    taken: list[int] = []

    def counted() -> Iterator[bytes]:
        for i in range(4096):  # 256 MiB if it were all taken
            taken.append(i)
            yield block

    # A tool that needs only the head (pg_restore --list): what it printed, and the
    # chunks after the one it refused never taken.
    assert through(["head", "-c", "10"], counted(), partial_input=True) == block[:10]
    assert len(taken) < 4096 // 8
    with pytest.raises(ToolFailed, match=r"head failed \(exit 0\)"):
        through(["head", "-c", "10"], (block for _ in range(64)))


def test_the_child_is_killed_and_reaped_when_the_consumer_raises() -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="consumer gave up"), \
            spawned(["yes"], stdout=True) as child:
        pids.append(child.pid)
        child.stdout.read1(1 << 16)
        raise RuntimeError("consumer gave up")
    assert gone(pids[0])
    with pytest.raises(KeyboardInterrupt), spawned(["cat"], stdin=True) as child:
        pids.append(child.pid)
        child.feed([b"half a dump"])
        raise KeyboardInterrupt
    assert gone(pids[1])


def test_a_finished_tool_is_reaped_too() -> None:
    with spawned(["sh", "-c", "exit 0"]) as child:
        pid = child.pid
    assert gone(pid)
