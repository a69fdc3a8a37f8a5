"""A TCP proxy in front of a real server that passes the client's bytes at a fixed rate: a
slow uplink, which a server on the loopback cannot be."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class ThrottledProxy:
    """Listens on 127.0.0.1:`port`; client-to-server bytes at `rate` bytes/s, replies at
    full speed. Small socket buffers, so the client feels the rate instead of filling them."""

    def __init__(self, target_port: int, rate: float) -> None:
        self._target = ("127.0.0.1", target_port)
        self._rate = rate
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, self._rate),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, None), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, rate: float | None) -> None:
        start, sent = time.monotonic(), 0
        with contextlib.suppress(OSError):
            while data := src.recv(16 << 10):
                dst.sendall(data)
                sent += len(data)
                if rate is not None:
                    time.sleep(max(0.0, start + sent / rate - time.monotonic()))
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
