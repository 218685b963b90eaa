"""The REST API through FastAPI's TestClient: results, error statuses, limits, metrics, docs, robustness."""

from __future__ import annotations

import io
import json
import logging
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from support.serving import FER_CLASSES, astronaut, chelsea, encode, write_tiny_model

from ferkit.serving import ServeSettings, create_app

BODY_LIMIT = 2 * 1024 * 1024
PIXEL_LIMIT = 4_000_000


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("serving") / "tiny.keras")


def wait_ready(client: TestClient, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/healthz").json()
        time.sleep(0.1)


@pytest.fixture(scope="module")
def client(tiny_model):
    app = create_app(ServeSettings(model=tiny_model, max_body_bytes=BODY_LIMIT, max_pixels=PIXEL_LIMIT))
    with TestClient(app) as test_client:
        wait_ready(test_client)
        yield test_client


@pytest.fixture(scope="module")
def astronaut_jpeg() -> bytes:
    return encode(astronaut())


def check_faces(body: dict, width: int, height: int) -> None:
    for face in body["faces"]:
        x, y, w, h = face["box"]
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width and y + h <= height
        assert list(face["probabilities"]) == FER_CLASSES
        assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert face["emotion"] == max(face["probabilities"], key=face["probabilities"].get)
        assert face["confidence"] == pytest.approx(face["probabilities"][face["emotion"]], abs=1e-6)


def test_astronaut_photo_gives_one_face_with_probabilities(client, astronaut_jpeg):
    response = client.post("/v1/predict", files={"file": ("astronaut.jpg", astronaut_jpeg, "image/jpeg")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["file"] == "astronaut.jpg"
    assert body["error"] is None
    assert body["image"] == {"width": 512, "height": 512}
    assert body["model"] == {"name": "tiny", "version": "test-1"}
    assert len(body["faces"]) >= 1
    check_faces(body, 512, 512)
    x, y, w, h = max(body["faces"], key=lambda face: face["box"][2])["box"]
    assert 120 < x + w / 2 < 320 and 20 < y + h / 2 < 220  # the astronaut's face, upper middle of the photo
    assert body["timing_ms"]["total"] >= body["timing_ms"]["inference"] > 0
    assert "inference;dur=" in response.headers["server-timing"]


def test_raw_body_gives_the_same_result_as_multipart(client, astronaut_jpeg):
    raw = client.post("/v1/predict", content=astronaut_jpeg, headers={"content-type": "image/jpeg"}).json()
    multipart = client.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg, "image/jpeg")}).json()
    assert raw["faces"] == multipart["faces"]


def test_photo_without_a_face_gives_no_faces(client):
    response = client.post("/v1/predict", files={"file": ("cat.png", encode(chelsea(), "PNG"), "image/png")})
    assert response.status_code == 200
    assert response.json()["faces"] == []
    assert response.json()["image"] == {"width": 451, "height": 300}


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_annotate_returns_the_image_with_boxes(client, astronaut_jpeg, fmt):
    response = client.post(f"/v1/predict?annotate=true&format={fmt}", content=astronaut_jpeg)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"image/{fmt}"
    assert int(response.headers["x-ferkit-faces"]) >= 1
    annotated = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    assert annotated.shape == (512, 512, 3)
    original = np.asarray(Image.open(io.BytesIO(astronaut_jpeg)).convert("RGB"))
    assert np.abs(annotated.astype(int) - original.astype(int)).max() > 100  # something was drawn


def test_not_an_image_is_415_with_a_message(client):
    response = client.post("/v1/predict", files={"file": ("notes.txt", b"hello, not an image", "text/plain")})
    assert response.status_code == 415
    assert "not an image" in response.json()["error"]


def test_truncated_image_is_415(client, astronaut_jpeg):
    response = client.post("/v1/predict", content=astronaut_jpeg[:300])
    assert response.status_code == 415
    assert response.json()["error"]


def test_body_over_the_limit_is_413(client):
    response = client.post("/v1/predict", content=b"\0" * (BODY_LIMIT + 1))
    assert response.status_code == 413
    assert str(BODY_LIMIT) in response.json()["error"]


def test_chunked_body_over_the_limit_is_413(client):
    """A chunked upload announces no Content-Length: the limit is enforced on the bytes received."""
    chunks = (b"\0" * (256 * 1024) for _ in range(12))
    response = client.post("/v1/predict", content=chunks)
    assert response.status_code == 413
    assert "exceeds the limit" in response.json()["error"]


def test_decompression_bomb_is_413(client):
    bomb = encode(np.zeros((2500, 2500, 3), np.uint8), "PNG")  # tiny file, 6.25 megapixels > the limit
    assert len(bomb) < 100_000
    response = client.post("/v1/predict", files={"file": ("bomb.png", bomb, "image/png")})
    assert response.status_code == 413
    assert "too large" in response.json()["error"]


@pytest.mark.parametrize("body, content_type, message", [
    (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
     "multipart/form-data; boundary=xyz", "closing boundary"),
    (b"garbage without any boundary", "multipart/form-data; boundary=xyz", "malformed multipart"),
    (b"--xyz\r\n", "multipart/form-data", "without a boundary"),
    (b"--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nabc\r\n--xyz--\r\n",
     "multipart/form-data; boundary=xyz", "no 'file' field"),
    (b"", "image/jpeg", "empty body"),
])
def test_malformed_uploads_are_400(client, body, content_type, message):
    response = client.post("/v1/predict", content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_uploads_are_never_written_to_disk(client, monkeypatch):
    """A 1.5 MB multipart upload (above Starlette's 1 MB spool threshold) must not create any file."""
    def no_disk(*args, **kwargs):
        raise AssertionError("the upload touched the disk")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_disk)
    monkeypatch.setattr("starlette.formparsers.SpooledTemporaryFile", no_disk)
    noise = np.random.default_rng(0).integers(0, 256, (800, 700, 3), dtype=np.uint8)
    png = encode(noise, "PNG")
    assert 1024 * 1024 < len(png) < BODY_LIMIT
    response = client.post("/v1/predict", files={"file": ("noise.png", png, "image/png")})
    assert response.status_code == 200
    assert response.json()["image"] == {"width": 700, "height": 800}


def test_concurrent_requests_each_get_their_own_answer(client, astronaut_jpeg):
    cat = encode(chelsea())
    expected = {name: client.post("/v1/predict", content=data).json()["faces"]
                for name, data in (("astronaut", astronaut_jpeg), ("cat", cat))}
    jobs = [("astronaut", astronaut_jpeg), ("cat", cat)] * 8

    def post(job):
        name, data = job
        response = client.post("/v1/predict", files={"file": (name, data, "image/jpeg")})
        return name, response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(post, jobs))
    for name, status, body in results:
        assert status == 200
        assert body["file"] == name
        assert body["faces"] == expected[name]


def test_internal_error_is_a_logged_500_and_the_server_survives(client, astronaut_jpeg, monkeypatch, caplog):
    service = client.app.state.service

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(service.recognizer, "predict", broken)
    with caplog.at_level(logging.ERROR, logger="ferkit.serving"):
        response = client.post("/v1/predict", content=astronaut_jpeg)
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error; see the server log"}
    assert any("simulated bug" in (record.exc_text or str(record.exc_info)) for record in caplog.records)
    monkeypatch.undo()
    assert client.post("/v1/predict", content=astronaut_jpeg).status_code == 200


def test_model_card(client):
    card = client.get("/v1/model").json()
    assert card["classes"] == FER_CLASSES
    assert card["input_size"] == [48, 48]
    assert card["color_mode"] == "grayscale"
    assert card["version"] == "test-1"
    assert card["metrics"] == {"accuracy": 0.25}


def test_metrics_count_requests_by_status_and_time_them(client):
    client.post("/v1/predict", content=b"not an image")
    text = client.get("/metrics").text
    assert 'ferkit_http_requests_total{method="POST",route="/v1/predict",status="415"}' in text
    assert 'ferkit_http_request_duration_seconds_bucket{le="0.5",route="/v1/predict"}' in text
    assert "ferkit_model_ready 1.0" in text
    counted = [line for line in text.splitlines() if line.startswith("ferkit_http_requests_total{") and
               'status="415"' in line]
    before = float(counted[0].rsplit(" ", 1)[1])
    client.post("/v1/predict", content=b"still not an image")
    after_text = client.get("/metrics").text
    assert f'route="/v1/predict",status="415"}} {before + 1}' in after_text


def test_access_log_is_json(client, caplog):
    with caplog.at_level(logging.INFO, logger="ferkit.serving.access"):
        client.get("/healthz")
    from ferkit.serving.observability import JsonLogFormatter

    record = next(r for r in caplog.records if r.name == "ferkit.serving.access")
    entry = json.loads(JsonLogFormatter().format(record))
    assert entry["path"] == "/healthz" and entry["status"] == 200 and entry["duration_ms"] >= 0


EXTERNAL_URL = re.compile(r"""["'(=]\s*(https?:)?//""")


def test_docs_and_page_use_only_local_assets(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert not EXTERNAL_URL.search(docs.text)
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
    assert client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    page = client.get("/")
    assert page.status_code == 200 and "ferkit" in page.text
    for text in (page.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        assert not EXTERNAL_URL.search(text)


def test_unknown_route_is_a_json_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}


def test_healthz_is_503_until_the_model_is_loaded(tiny_model, monkeypatch):
    import ferkit.inference

    release = threading.Event()
    original = ferkit.inference.load_classifier

    def slow_load(*args, **kwargs):
        release.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(ferkit.inference, "load_classifier", slow_load)
    with TestClient(create_app(ServeSettings(model=tiny_model))) as test_client:
        assert test_client.get("/healthz").status_code == 503
        assert test_client.get("/healthz").json()["status"] == "loading"
        assert test_client.post("/v1/predict", content=b"x").status_code == 503
        release.set()
        wait_ready(test_client)
        assert test_client.get("/healthz").json() == {"status": "ok", "model": "tiny"}


def test_unloadable_model_keeps_the_server_up_and_not_ready(tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip file")
    with TestClient(create_app(ServeSettings(model=broken))) as test_client:
        deadline = time.monotonic() + 60
        while test_client.get("/healthz").json()["status"] == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        health = test_client.get("/healthz")
        assert health.status_code == 503
        assert "broken.keras" in health.json()["error"]
        assert test_client.get("/").status_code == 200


def _mutations(seed: bytes):
    edit = st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 255))
    return st.lists(edit, min_size=1, max_size=20).map(lambda edits: _apply(seed, edits))


def _apply(seed: bytes, edits) -> bytes:
    data = bytearray(seed)
    for position, value in edits:
        data[position] = value
    return bytes(data)


_SMALL_FACE = encode(astronaut()[::8, ::8].copy())
_SMALL_PNG = encode(chelsea()[::6, ::6].copy(), "PNG")
_FUZZ_BODIES = st.one_of(
    st.binary(max_size=2000),
    _mutations(_SMALL_FACE),
    _mutations(_SMALL_PNG),
    st.binary(min_size=1, max_size=len(_SMALL_FACE)).map(lambda tail: _SMALL_FACE[: len(tail)]),
)


@settings(max_examples=120, deadline=None, database=None)
@given(body=_FUZZ_BODIES, as_multipart=st.booleans(),
       content_type=st.sampled_from(["image/jpeg", "application/octet-stream", "text/plain", ""]))
def test_fuzzed_uploads_never_give_500(client, body, as_multipart, content_type):
    if as_multipart:
        response = client.post("/v1/predict", files={"file": ("fuzz", body, content_type or "image/png")})
    else:
        response = client.post("/v1/predict", content=body, headers={"content-type": content_type})
    assert response.status_code in (200, 400, 413, 415), response.text
    assert ("faces" in response.json()) == (response.status_code == 200)


@settings(max_examples=60, deadline=None, database=None)
@given(body=st.binary(max_size=600), boundary=st.sampled_from(["b0undary", "x", "----WebKitFormBoundaryq"]))
def test_fuzzed_multipart_bodies_never_give_500(client, body, boundary):
    response = client.post("/v1/predict", content=body,
                           headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code in (200, 400, 413, 415), response.text
