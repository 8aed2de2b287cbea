"""The deadline over TLS: a stalled handshake, trickled headers and a trickled body are cut.

The API source and the webhook alerter tests cover plain HTTP (tests/support/slow_http_server.py); over
TLS the socket under a read is an SSLSocket, and during the handshake the connection has no
socket of its own yet: the same deadline must cut all three. A self-signed certificate for
127.0.0.1 is made for the test.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tabular_ml.data.bounded_http import (
    Deadline,
    DeadlineExceeded,
    bounded_request,
    bounded_session,
    read_body,
)

DEADLINE_S = 1.5
MARGIN_S = 1.0  # what a loaded machine may add to a deadline


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """(certificate path, key path) of a self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


@contextmanager
def tls_server(certificate: tuple[str, str], behaviour: str) -> Iterator[str]:
    """An HTTPS URL on 127.0.0.1 whose one connection stalls or trickles as ``behaviour`` says."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        raw, _ = listener.accept()
        with raw:
            try:
                if behaviour == "stall_handshake":  # accepted, then not a byte of TLS
                    stop.wait(30)
                    return
                with context.wrap_socket(raw, server_side=True) as connection:
                    connection.recv(65536)
                    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
                    if behaviour == "trickle_headers":
                        for byte in head:
                            connection.sendall(bytes([byte]))
                            if stop.wait(1):
                                return
                    else:  # trickle_body
                        connection.sendall(head)
                        while not stop.wait(1):
                            connection.sendall(b" ")
            except OSError:  # the client's deadline shut the connection down
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/data"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


@pytest.mark.parametrize("behaviour", ["stall_handshake", "trickle_headers", "trickle_body"])
def test_the_deadline_cuts_a_tls_connection_in_every_phase(certificate, behaviour):
    with tls_server(certificate, behaviour) as url:
        deadline = Deadline(DEADLINE_S)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"^no complete answer within 1\.5s$"):
            with (
                bounded_session() as session,
                # timeout_s far above the deadline: only the deadline can end this
                bounded_request(
                    session, "GET", url, deadline=deadline, timeout_s=60, verify=certificate[0]
                ) as r,
            ):
                read_body(r, deadline, max_bytes=10**6)
        took = time.monotonic() - started
    assert DEADLINE_S <= took < DEADLINE_S + MARGIN_S
