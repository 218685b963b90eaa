"""The API's answers at its edges (issue 21): over-long multipart boundaries, client-invented methods and paths
in the metrics, invalid query parameters, and huge but valid images decoded at a reduced size."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from support.serving import astronaut, encode, write_tiny_model

from ferkit.data.images import decode_image
from ferkit.serving import ServeSettings, create_app


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("limits") / "tiny.keras")


def ready_client(app) -> TestClient:
    client = TestClient(app)
    client.__enter__()
    deadline = time.monotonic() + 120
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/healthz").json()
        time.sleep(0.1)
    return client


@pytest.fixture(scope="module")
def client(tiny_model):
    client = ready_client(create_app(ServeSettings(model=tiny_model)))
    yield client
    client.__exit__(None, None, None)


@pytest.mark.parametrize("length", [71, 257, 300, 5000])
def test_an_over_long_multipart_boundary_is_400(client, length):
    response = client.post("/v1/predict", content=b"x",
                           headers={"content-type": f"multipart/form-data; boundary={'a' * length}"})
    assert response.status_code == 400
    assert f"boundary of {length} characters" in response.json()["error"]


def test_a_70_character_boundary_still_works(client):
    boundary = "b" * 70
    photo = encode(astronaut()[::4, ::4].copy())
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
    response = client.post("/v1/predict", content=body,
                           headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 200, response.text


def metric_series(client: TestClient) -> set[str]:
    """The names and labels of every ferkit metric series, without their values."""
    return {line.rsplit(" ", 1)[0] for line in client.get("/metrics").text.splitlines()
            if line.startswith("ferkit_")}


def test_invented_methods_and_paths_add_no_metric_series(client):
    client.request("BREW", "/v1/predict")
    client.request("BREW", "/made-up")
    client.get("/static/missing.js")
    metric_series(client)
    before = metric_series(client)  # every label set the loop below can reach exists now
    for number in range(200):
        client.request(f"INVENTED{number}", f"/made-up/{number}")
        client.get(f"/static/missing-{number}.js")
    after = metric_series(client)
    assert after == before
    assert any('method="OTHER"' in line and 'route="unmatched"' in line for line in after)


def test_an_invalid_query_parameter_is_422_with_an_error_like_every_other(client):
    photo = encode(astronaut()[::4, ::4].copy())
    response = client.post("/v1/predict?annotate=true&format=gif", content=photo)
    assert response.status_code == 422
    body = response.json()
    assert list(body) == ["error"]
    assert "format" in body["error"] and "jpeg" in body["error"]
    schema = client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["responses"]["422"]
    assert "HTTPValidationError" not in str(schema)


def one_bit_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG")
    return buffer.getvalue()


def test_decode_image_shrinks_a_huge_one_bit_png_by_a_whole_factor():
    rgb = decode_image(one_bit_png(4999), max_pixels=25_000_000, max_side=1024)
    assert rgb.shape == (1000, 1000, 3)  # 4999 / 5, rounded down by the box filter
    assert rgb.dtype == np.uint8


def test_a_huge_image_is_analysed_reduced_with_boxes_in_its_own_pixels(tiny_model):
    photo = astronaut()
    big = np.asarray(Image.fromarray(photo).resize((2048, 2048), Image.Resampling.LANCZOS))
    client = ready_client(create_app(ServeSettings(model=tiny_model, max_image_side=512)))
    try:
        small = client.post("/v1/predict", content=encode(photo)).json()
        large = client.post("/v1/predict", content=encode(big)).json()
    finally:
        client.__exit__(None, None, None)
    assert large["image"] == {"width": 2048, "height": 2048}
    assert len(large["faces"]) == len(small["faces"]) == 1
    large_box, small_box = np.array(large["faces"][0]["box"]), np.array(small["faces"][0]["box"])
    assert np.abs(large_box - 4 * small_box).max() <= 4 * 8  # the same face, in the 4x larger image's pixels
    x, y, w, h = large_box
    assert x + w <= 2048 and y + h <= 2048
