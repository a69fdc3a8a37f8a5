"""The one way the engine runs an external tool: argv (never a shell), secrets only in the
child's environment, stdin and stdout streamed, stderr kept for the error message.
"""

from __future__ import annotations

import fcntl
import io
import os
import subprocess
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, cast

from dr_assets.core.errors import ToolError

STDERR_KEPT = 64 << 10  # the tail of stderr an error message can quote; the rest is dropped
PIPE_BYTES = 1 << 20
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux), named in the fcntl module from Python 3.10
# Workers a killed tool forked (pg_restore --jobs) may hold its stderr open a little longer.
REAP_SECONDS = 5.0


class ToolFailed(ToolError):
    """A tool exited with a code its caller does not allow, or stopped reading its input."""

    def __init__(self, tool: str, exit_code: int, stderr: str) -> None:
        self.tool, self.exit_code, self.stderr = tool, exit_code, stderr
        super().__init__(f"{tool} failed (exit {exit_code}): {self.last_lines}")

    def __reduce__(self) -> tuple[type[ToolFailed], tuple[str, int, str]]:
        # A custom __init__ would break unpickling (multiprocessing, run workers) otherwise.
        return ToolFailed, (self.tool, self.exit_code, self.stderr)

    @property
    def last_lines(self) -> str:
        return last_lines(self.stderr)


def last_lines(text: str, n: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) if lines else "no error output"


def widen_pipe(fd: int) -> None:
    """Give a pipe 1 MiB of buffer instead of 64 KiB, so the writer decodes ahead while the
    reader is busy and neither waits on the other for every 64 KiB (Linux; elsewhere, or
    above /proc/sys/fs/pipe-max-size, the default stays)."""
    with suppress(OSError):
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", F_SETPIPE_SZ), PIPE_BYTES)


class _StderrTail:
    """Reads a child's stderr to its end in a thread, so a chatty tool never blocks on a
    full pipe, and keeps the last STDERR_KEPT bytes."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._kept = bytearray()
        self._thread = threading.Thread(target=self._drain, name="tool-stderr", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        with self._stream:
            while chunk := os.read(self._stream.fileno(), STDERR_KEPT):
                self._kept += chunk
                del self._kept[:-STDERR_KEPT]

    def text(self, timeout: float | None = None) -> str:
        self._thread.join(timeout)
        return bytes(self._kept).decode(errors="replace")


class Child:
    """A running tool: feed its stdin, read its stdout. The `spawned` context that made it
    waits for it and checks its exit code, or kills and reaps it if the caller raised."""

    def __init__(self, proc: subprocess.Popen[bytes], tool: str, allowed: Collection[int],
                 partial_input: bool = False) -> None:
        self.tool = tool
        self._proc = proc
        self._allowed = allowed
        self._partial_input = partial_input
        self._stopped_reading = False
        assert proc.stderr is not None
        self._stderr = _StderrTail(proc.stderr)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def stdout(self) -> io.BufferedReader:
        assert self._proc.stdout is not None, f"{self.tool} was spawned without stdout=True"
        return cast(io.BufferedReader, self._proc.stdout)

    def write(self, data: bytes) -> bool:
        """Write to the tool's stdin; False once it has stopped reading (its exit code and
        stderr, checked when the context ends, then say why)."""
        assert self._proc.stdin is not None, f"{self.tool} was spawned without stdin=True"
        if self._stopped_reading:
            return False
        try:
            self._proc.stdin.write(data)
        except BrokenPipeError:
            self._stopped_reading = True
        return not self._stopped_reading

    def feed(self, chunks: Iterable[bytes]) -> None:
        """Pump `chunks` into the tool's stdin, in the caller's thread, until they end or
        the tool stops reading."""
        for chunk in chunks:
            if not self.write(chunk):
                return

    def end_input(self) -> None:
        """Close the tool's stdin, so it sees the end of its input while we still read its
        stdout (from another thread than the one feeding it)."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                self._stopped_reading = True

    def finish(self) -> int:
        """End the input, close our end of stdout, wait, and check the exit code."""
        self.end_input()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        code = self._proc.wait()
        stderr = self._stderr.text()
        if code not in self._allowed or (self._stopped_reading and not self._partial_input):
            raise ToolFailed(self.tool, code, stderr)
        return code

    def stderr_text(self) -> str:
        """What the tool printed on stderr (its last STDERR_KEPT bytes), complete once the
        `spawned` block has ended: tools that report on stderr (pg_basebackup -v)."""
        return self._stderr.text(REAP_SECONDS)

    def kill(self) -> None:
        """Kill the tool if it still runs and reap it; its output no longer matters."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                with suppress(OSError):  # a dead reader: buffered bytes cannot be flushed
                    pipe.close()
        self._stderr.text(REAP_SECONDS)


@contextmanager
def spawned(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bool = False,
    stdout: bool = False,
    allowed: Collection[int] = (0,),
    cwd: Path | None = None,
    partial_input: bool = False,
) -> Iterator[Child]:
    """Run `argv` for the length of the block. Pass passwords in `env` (e.g.
    ConnInfo.tool_env()), never in argv: a command line is visible to every local user.
    stdin=True gives a 1 MiB pipe to feed; stdout=True a reader of a 1 MiB pipe to consume
    to its end (the tool writes ahead while the reader is busy).
    Leaving the block waits for the tool and raises ToolFailed on an exit code outside
    `allowed`, or when it stopped reading its input before the end unless `partial_input`
    says it may (pg_restore --list reads only an archive's head); raising out of the block
    kills the tool and reaps it."""
    tool = Path(argv[0]).name
    try:
        proc = subprocess.Popen(
            list(argv), env=None if env is None else dict(env), stderr=subprocess.PIPE,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL, cwd=cwd,
        )
    except OSError as exc:
        raise ToolError(f"{tool} could not be started: {exc.strerror or exc}") from exc
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            widen_pipe(pipe.fileno())
    child = Child(proc, tool, allowed, partial_input)
    try:
        yield child
        child.finish()
    except BaseException:
        child.kill()
        raise


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
        allowed: Collection[int] = (0,), cwd: Path | None = None) -> str:
    """Run a tool to its end; what it printed on stdout, as text (`--version` and the like,
    or nothing from a tool that writes elsewhere)."""
    with spawned(argv, env=env, stdout=True, allowed=allowed, cwd=cwd) as child:
        out = child.stdout.read()
    return out.decode(errors="replace")


def through(argv: Sequence[str], chunks: Iterable[bytes], *, env: Mapping[str, str] | None = None,
            allowed: Collection[int] = (0,), partial_input: bool = False) -> bytes:
    """Feed `chunks` to a tool's stdin while its stdout is collected in a thread, so neither
    pipe fills up while the other waits; what it printed. With `partial_input` the tool may
    stop reading early: the chunks after the one it refused are never taken."""
    out = bytearray()
    with spawned(argv, env=env, stdin=True, stdout=True, allowed=allowed,
                 partial_input=partial_input) as child:
        def collect() -> None:
            with suppress(OSError, ValueError):  # closed under it when the tool is killed
                out.extend(child.stdout.read())

        reader = threading.Thread(target=collect, name="tool-stdout", daemon=True)
        reader.start()
        child.feed(chunks)
        child.end_input()
        reader.join()
    return bytes(out)
