"""The service behind a real uvicorn server: slow, stalled, disconnecting and oversized uploads at the socket
level must not stall other clients, and the size limit is enforced while the body streams in."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn
from serving_support import astronaut, encode, free_port, write_tiny_model

from ferkit.serving import ServeSettings, create_app

BODY_LIMIT = 1024 * 1024
BODY_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    model = write_tiny_model(tmp_path_factory.mktemp("server") / "tiny.keras")
    app = create_app(ServeSettings(model=model, max_body_bytes=BODY_LIMIT, body_timeout=BODY_TIMEOUT))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "server not ready"
        time.sleep(0.2)
    yield base
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def photo() -> bytes:
    return encode(astronaut())


def open_upload(base: str, headers: str, body: bytes = b"") -> socket.socket:
    """A raw connection that sends request headers and the start of a body, then waits.

    Its reads may wait well past BODY_TIMEOUT: the server's 408 comes BODY_TIMEOUT after the upload began, and
    a read timeout equal to it would race the server's clock.
    """
    port = int(base.rsplit(":", 1)[1])
    connection = socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT + 30)
    connection.sendall(f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode() + body)
    return connection


def read_status(connection: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def predict_status(base: str, photo: bytes) -> int:
    headers = {"content-type": "image/jpeg"}
    return httpx.post(f"{base}/v1/predict", content=photo, headers=headers, timeout=60).status_code


def has_answer(connection: socket.socket) -> bool:
    connection.setblocking(False)
    try:
        return bool(connection.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    finally:
        connection.setblocking(True)


def test_slow_uploads_do_not_stall_other_clients_and_time_out(base_url, photo):
    slow = [open_upload(base_url, "Content-Type: image/jpeg\r\nContent-Length: 100000\r\n", photo[:100])
            for _ in range(4)]
    try:
        assert predict_status(base_url, photo) == 200
        assert not any(has_answer(connection) for connection in slow)  # still waiting for their bodies
        for connection in slow:
            assert read_status(connection) == 408
    finally:
        for connection in slow:
            connection.close()


def metric_value(base: str, status: str) -> float:
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith("ferkit_http_requests_total{") and 'route="/v1/predict"' in line and \
                f'status="{status}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_client_disconnecting_mid_upload_is_handled(base_url, photo):
    before = metric_value(base_url, "499")
    for _ in range(3):
        headers = "Content-Type: image/jpeg\r\nContent-Length: 500000\r\n"
        connection = open_upload(base_url, headers, photo[:2000])
        connection.close()
    deadline = time.monotonic() + 10
    while metric_value(base_url, "499") < before + 3:
        assert time.monotonic() < deadline, "the server did not notice the disconnects"
        time.sleep(0.1)
    assert predict_status(base_url, photo) == 200


def test_oversized_chunked_upload_is_refused_before_it_ends(base_url):
    connection = open_upload(base_url, "Content-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n")
    try:
        chunk = b"\0" * 65536
        for _ in range(BODY_LIMIT // len(chunk) + 2):
            connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        # the terminating 0-size chunk is never sent: only a limit checked while streaming can answer now
        assert read_status(connection) == 413
    finally:
        connection.close()


def test_announced_oversized_upload_is_refused_without_reading_it(base_url):
    connection = open_upload(base_url, f"Content-Type: image/jpeg\r\nContent-Length: {BODY_LIMIT * 50}\r\n")
    try:
        assert read_status(connection) == 413
    finally:
        connection.close()
