"""The service behind a real uvicorn server: slow, stalled, disconnecting and oversized uploads at the socket
level must not stall other clients, the size limit is enforced while the body streams in, every client gets
the 413, and connections whose headers never finish are closed."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import httpx
import pytest
import uvicorn
from support.serving import astronaut, encode, free_port, wait_healthy, write_tiny_model

from ferkit.serving import ServeSettings, create_app
from ferkit.serving.server import server_options

BODY_LIMIT = 1024 * 1024
BODY_TIMEOUT = 10.0
HEADER_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    model = write_tiny_model(tmp_path_factory.mktemp("server") / "tiny.keras")
    app = create_app(ServeSettings(model=model, max_body_bytes=BODY_LIMIT, body_timeout=BODY_TIMEOUT))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                            **server_options(header_timeout=HEADER_TIMEOUT))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, timeout=120)
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


def test_clients_that_send_the_whole_body_first_get_the_413(base_url):
    """urllib sends `Connection: close` and its whole body before reading: it must read the 413, not a reset."""
    body = b"\0" * (12 * BODY_LIMIT)  # more than the socket buffers hold, as in the issue
    for _ in range(5):
        request = urllib.request.Request(f"{base_url}/v1/predict", data=body)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 413
        assert "exceeds the limit" in json.loads(refused.value.read())["error"]
    assert httpx.post(f"{base_url}/v1/predict", content=body).status_code == 413  # keep-alive clients too


def is_closed_by_server(connection: socket.socket, within: float) -> bool:
    connection.settimeout(within)
    try:
        return connection.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_connections_whose_headers_never_finish_are_closed(base_url):
    port = int(base_url.rsplit(":", 1)[1])
    silent = socket.create_connection(("127.0.0.1", port))
    partial = socket.create_connection(("127.0.0.1", port))
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        started = time.monotonic()
        assert is_closed_by_server(silent, HEADER_TIMEOUT + 5)
        assert is_closed_by_server(partial, HEADER_TIMEOUT + 5)
        assert time.monotonic() - started < HEADER_TIMEOUT + 5
    finally:
        silent.close()
        partial.close()


def test_a_slowloris_of_100_connections_does_not_starve_other_clients(base_url, photo):
    port = int(base_url.rsplit(":", 1)[1])
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
    try:
        for connection in slow:
            connection.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: 1")
        started = time.monotonic()
        assert predict_status(base_url, photo) == 200
        assert httpx.get(f"{base_url}/healthz").status_code == 200
        assert time.monotonic() - started < HEADER_TIMEOUT  # answered while the slow ones are still open
        for connection in slow:
            connection.sendall(b"2")  # a byte now and then does not extend the deadline
        assert all(is_closed_by_server(connection, HEADER_TIMEOUT + 5) for connection in slow)
    finally:
        for connection in slow:
            connection.close()
