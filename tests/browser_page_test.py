"""The web page in a real browser (Debian's chromium driven by playwright) against `ferkit serve` started as a
user would: photo upload, drag and drop, errors, phone layout, and live webcam boxes from a fake camera.

A screenshot of each page state is saved to test-artifacts/.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from support.serving import (
    FER_CLASSES,
    astronaut,
    chelsea,
    encode,
    free_port,
    start_server,
    stop_server,
    wait_healthy,
    write_tiny_model,
)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
BROWSER_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                "--disable-component-update", "--disable-sync", "--no-first-run"]
LABEL = re.compile(rf"Face 1: ({'|'.join(FER_CLASSES)}) \d+%")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make test installs it)")


def one_face_frame() -> np.ndarray:
    """A 640x480 RGB frame with the astronaut's face in it, as a webcam would see a person."""
    canvas = Image.new("RGB", (640, 480), (90, 90, 100))
    canvas.paste(Image.fromarray(astronaut()).resize((420, 420)), (110, 30))
    return np.asarray(canvas)


def write_y4m(path: Path, rgb: np.ndarray, frames: int = 10, fps: int = 10) -> Path:
    """A YUV4MPEG2 (4:2:0) video repeating `rgb`, the format Chromium's fake camera plays."""
    height, width = rgb.shape[:2]
    planes = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes()
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            video.write(b"FRAME\n" + planes)
    return path


@pytest.fixture(scope="module")
def server_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser") / "server.log"


@pytest.fixture(scope="module")
def base_url(server_log):
    """`ferkit serve --model tiny.keras --port P` in a subprocess, on 127.0.0.1 (its default host)."""
    model = write_tiny_model(server_log.parent / "tiny.keras")
    port = free_port()
    server = start_server(model, port, server_log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, server, server_log)
        yield base
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = {"astronaut": folder / "astronaut.jpg", "cat": folder / "cat.jpg", "fake": folder / "notes.png"}
    paths["astronaut"].write_bytes(encode(astronaut()))
    paths["cat"].write_bytes(encode(chelsea()))
    paths["fake"].write_bytes(b"this is text, not a picture")
    return paths


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright, tmp_path_factory):
    """Chromium with a fake camera that films a face."""
    video = write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m", one_face_frame())
    camera = ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}"]
    instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                          args=BROWSER_ARGS + camera)
    yield instance
    instance.close()


def open_page(browser, base_url, **context_options):
    """A page on the ferkit site; any request leaving the site is blocked and recorded (the page must work
    offline)."""
    context = browser.new_context(**context_options)
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(base_url) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base_url)
    page.wait_for_function("document.querySelector('#model-info').textContent.startsWith('Model tiny')")
    return page, outside, errors


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=True)


def canvas_pixel(page, selector: str, x: float, y: float) -> list[int]:
    return page.evaluate(
        "([selector, x, y]) => Array.from(document.querySelector(selector).getContext('2d')"
        ".getImageData(x, y, 1, 1).data)", [selector, x, y])


def test_uploaded_photo_shows_box_label_and_probabilities(browser, base_url, photos):
    page, outside, errors = open_page(browser, base_url)
    screenshot(page, "start")
    page.set_input_files("#file-input", str(photos["astronaut"]))
    page.wait_for_selector("#face-list li")
    label = page.inner_text("#face-list li")
    assert LABEL.search(label), label
    assert int(page.get_attribute("#photo-canvas", "data-faces")) >= 1
    bars = page.locator("#chart .bar-row")
    assert bars.count() == len(FER_CLASSES)
    assert [bars.nth(i).get_attribute("data-emotion") for i in range(bars.count())] == FER_CLASSES
    assert "found" in page.inner_text("#photo-status")
    emotion = LABEL.search(label).group(1)
    top_bar = page.get_attribute("#chart .bar-row.best", "data-emotion")
    assert top_bar == emotion
    screenshot(page, "photo-result")
    assert not outside and not errors, (outside, errors)


def test_highlighted_bar_is_the_faces_emotion_when_rounded_probabilities_tie(browser, base_url, photos):
    """The JSON rounds probabilities to 4 decimals, so two classes can arrive equal; the chart must still
    highlight the class the server chose (an untrained model once showed "sad" in the label, "angry" in the chart)."""
    page, _, _ = open_page(browser, base_url)
    tied = {name: 0.1 for name in FER_CLASSES} | {FER_CLASSES[0]: 0.2, FER_CLASSES[-1]: 0.2}
    answer = {"file": "astronaut.jpg", "image": {"width": 512, "height": 512},
              "faces": [{"box": [180, 60, 120, 120], "emotion": FER_CLASSES[-1], "confidence": 0.2,
                         "probabilities": tied}]}
    page.route("**/v1/predict", lambda route: route.fulfill(status=200, content_type="application/json",
                                                           body=json.dumps(answer)))
    page.set_input_files("#file-input", str(photos["astronaut"]))
    page.wait_for_selector("#face-list li")
    assert LABEL.search(page.inner_text("#face-list li")).group(1) == FER_CLASSES[-1]
    assert page.get_attribute("#chart .bar-row.best", "data-emotion") == FER_CLASSES[-1]
    assert page.locator("#chart .bar-row.best").count() == 1


def test_box_is_drawn_where_the_face_is_and_clicking_selects_it(browser, base_url, photos):
    page, _, _ = open_page(browser, base_url)
    page.set_input_files("#file-input", str(photos["astronaut"]))
    page.wait_for_selector("#face-list li")
    x, y, w, h = page.evaluate("fetch('/v1/predict', {method: 'POST', body: "
                               "document.querySelector('#file-input').files[0]})"
                               ".then(r => r.json()).then(b => b.faces[0].box)")
    inside = canvas_pixel(page, "#photo-canvas", x + w / 2, y + h / 2)
    original = astronaut()[int(y + h / 2), int(x + w / 2)]
    assert np.abs(np.array(inside[:3]) - original).max() < 40  # the face itself is not painted over
    # but its outline is: the strongest change across the left edge (the stroke is centred on it and may be
    # anti-aliased over two pixels, depending on the canvas scale)
    change = max(np.abs(np.array(canvas_pixel(page, "#photo-canvas", x + dx, y + h / 2)[:3])
                        - astronaut()[int(y + h / 2), x + dx]).max() for dx in (-2, -1, 0, 1, 2))
    assert change > 60
    box = page.locator("#photo-canvas").bounding_box()
    scale = box["width"] / 512
    page.mouse.click(box["x"] + (x + w / 2) * scale, box["y"] + (y + h / 2) * scale)
    assert page.get_attribute("#face-list li button", "aria-pressed") == "true"


def test_dropped_photo_without_face_says_so(browser, base_url, photos):
    page, _, _ = open_page(browser, base_url)
    data = base64.b64encode(photos["cat"].read_bytes()).decode()
    transfer = page.evaluate_handle(
        """(data) => {
             const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
             const transfer = new DataTransfer();
             transfer.items.add(new File([bytes], 'cat.jpg', {type: 'image/jpeg'}));
             return transfer;
           }""", data)
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    page.wait_for_function("document.querySelector('#panel-photo').dataset.result === 'no-face'")
    assert "No face found" in page.inner_text("#photo-status")
    side_panel = page.inner_text("#faces-empty")  # the side panel says what was searched and what to try
    assert "No face found (detector yunet, faces from 32 px)" in side_panel and "try" in side_panel
    assert page.locator("#face-list li").count() == 0
    screenshot(page, "photo-no-face")


def test_server_error_message_is_shown(browser, base_url, photos):
    page, _, _ = open_page(browser, base_url)
    page.set_input_files("#file-input", str(photos["fake"]))
    page.wait_for_function("document.querySelector('#photo-status').classList.contains('error')")
    assert "not an image" in page.inner_text("#photo-status")
    screenshot(page, "photo-error")


def test_phone_sized_screen_stacks_without_horizontal_scrolling(browser, base_url, photos):
    page, _, _ = open_page(browser, base_url, viewport={"width": 390, "height": 844}, is_mobile=True,
                           has_touch=True, device_scale_factor=2)
    page.set_input_files("#file-input", str(photos["astronaut"]))
    page.wait_for_selector("#face-list li")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    stage = page.locator("#photo-stage").bounding_box()
    results = page.locator("#panel-photo .results").bounding_box()
    assert results["y"] >= stage["y"] + stage["height"] - 1  # results below the photo, not beside it
    assert stage["width"] <= 390
    screenshot(page, "phone")


def test_webcam_shows_live_boxes_and_frame_rate(browser, base_url):
    page, outside, errors = open_page(browser, base_url, permissions=["camera"])
    page.click("#tab-webcam")
    page.click("#webcam-start")
    boxes = "Number(document.querySelector('#overlay').dataset.boxes || 0)"
    page.wait_for_function(f"{boxes} >= 1", timeout=60_000)
    page.wait_for_function("Number(document.querySelector('#fps').textContent) > 0", timeout=60_000)
    summary = page.inner_text("#live-summary")
    # Faces are tracked across frames as in `ferkit predict` on a video: the label names the person.
    assert re.search(rf"largest \(person 1\): ({'|'.join(FER_CLASSES)}) \d+%", summary), summary
    assert page.locator("#live-chart .bar-row").count() == len(FER_CLASSES)
    screenshot(page, "webcam-live")
    page.click("#webcam-stop")
    assert page.get_attribute("#overlay", "data-boxes") == "0"
    assert page.inner_text("#fps") == "0.0"
    assert not outside and not errors, (outside, errors)


def test_denied_camera_gives_a_clear_message(browser, base_url):
    page, _, _ = open_page(browser, base_url)  # camera permission not granted
    page.click("#tab-webcam")
    page.click("#webcam-start")
    page.wait_for_function("document.querySelector('#webcam-status').classList.contains('error')")
    assert "denied" in page.inner_text("#webcam-status")
    screenshot(page, "webcam-denied")


def test_missing_camera_gives_a_clear_message(playwright, base_url):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS)
    try:
        page, _, _ = open_page(browser, base_url, permissions=["camera"])
        page.click("#tab-webcam")
        page.click("#webcam-start")
        page.wait_for_function("document.querySelector('#webcam-status').classList.contains('error')")
        assert "No camera was found" in page.inner_text("#webcam-status")
        screenshot(page, "webcam-absent")
    finally:
        browser.close()


def test_api_docs_render_offline(browser, base_url):
    page, outside, errors = open_page(browser, base_url)
    page.goto(f"{base_url}/docs")
    page.wait_for_selector(".swagger-ui .opblock-summary-path[data-path='/v1/predict']")
    assert "ferkit" in page.inner_text(".swagger-ui .info .title")
    screenshot(page, "api-docs")
    assert not outside and not errors, (outside, errors)


def test_server_wrote_a_json_access_log(base_url, server_log):
    entries = [json.loads(line) for line in server_log.read_text().splitlines() if line.startswith("{")]
    access = [entry for entry in entries if entry["logger"] == "ferkit.serving.access"]
    assert any(entry["path"] == "/v1/predict" and entry["status"] == 200 for entry in access)
    assert any(entry["path"] == "/static/app.js" for entry in access)
    assert all({"client", "method", "status", "duration_ms"} <= entry.keys() for entry in access)
