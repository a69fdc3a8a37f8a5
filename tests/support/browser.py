"""Headless Chromium for page tests: the rendered DOM, its visible text, and screenshots."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

INSTALL_HINT = ("chromium is not installed: apt-get update && apt-get install -y chromium "
                "(.ci/run does this), or set DR_SKIP_BROWSER=1 to skip the browser tests")
# Without the networking flags Chromium phones home and this machine refuses it.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=8000")


@dataclass(frozen=True)
class Screenshot:
    path: Path
    width: int
    height: int
    bytes: int


class _VisibleText(HTMLParser):
    HIDDEN = {"script", "style", "title", "head"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.parts.append(" ".join(data.split()))


def visible_text(dom: str) -> str:
    parser = _VisibleText()
    parser.feed(dom)
    return " ".join(parser.parts)


class Browser:
    def __init__(self, exe: str) -> None:
        self.exe = exe

    def _run(self, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory(prefix="dr-chromium-") as profile:
            proc = subprocess.run([self.exe, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                                  capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise AssertionError(f"chromium failed on {url} ({proc.returncode}): "
                                 f"{proc.stderr[-2000:]}")
        return proc

    def dom(self, url: str) -> str:
        return self._run(url, "--dump-dom").stdout

    def text(self, url: str) -> str:
        return visible_text(self.dom(url))

    def screenshot(self, url: str, path: Path, width: int = 1280, height: int = 1000
                   ) -> Screenshot:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self._run(url, f"--screenshot={path}", f"--window-size={width},{height}")
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        w, h = struct.unpack(">II", data[16:24])
        return Screenshot(path, w, h, len(data))


def find_chromium() -> Browser:
    """The browser, or a skip when DR_SKIP_BROWSER=1, or a failure saying how to install it."""
    if os.environ.get("DR_SKIP_BROWSER") == "1":
        pytest.skip("DR_SKIP_BROWSER=1: browser tests skipped")
    for name in ("chromium", "chromium-browser"):
        exe = shutil.which(name)
        if exe:
            return Browser(exe)
    pytest.fail(INSTALL_HINT)


class StaticPage:
    """One HTML page served over HTTP from a thread, as a CDN or file server would."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
