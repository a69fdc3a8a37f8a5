"""Real receivers for alert delivery: an HTTP endpoint that answers a scripted list of
statuses (or hangs), and an SMTP server with STARTTLS and AUTH on a self-signed
certificate made here."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HANG = -1  # a scripted answer: read the body, then say nothing for HANG_SECONDS
HANG_SECONDS = 3.0


class Receiver:
    """Records every JSON body posted; answers `script` in order, then 200."""

    def __init__(self, script: list[int] | None = None) -> None:
        received: list[dict[str, Any]] = []
        answers = list(script or [])

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                status = answers.pop(0) if answers else 200
                if status == HANG:
                    time.sleep(HANG_SECONDS)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook/secret-token"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed(dir_: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = dir_ / "smtp.crt", dir_ / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(dir_: Path, username: str, password: str
                ) -> Iterator[tuple[int, Path, list[Message]]]:
    """aiosmtpd requiring STARTTLS and AUTH; yields its port, its certificate (to trust)
    and the messages it accepted."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = self_signed(dir_)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    messages: list[Message] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    def authenticate(server: object, session: object, envelope: object, mechanism: str,
                     auth_data: object) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == username.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=tls,
                            require_starttls=True, authenticator=authenticate,
                            auth_required=True, auth_require_tls=True)
    controller.start()
    try:
        yield port, cert, messages
    finally:
        controller.stop()
