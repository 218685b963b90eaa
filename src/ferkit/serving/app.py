"""The ferkit web service: a REST API for emotion recognition and the web page that uses it.

`create_app` builds a FastAPI app around one `EmotionRecognizer`, loaded once in the background at start-up
(`/healthz` answers 503 until it is ready). Request bodies are read by ferkit itself, in memory, with the size
limit enforced while they stream in, so uploads never touch the disk and an oversized upload is refused
without being read. Decoding and inference run on a small thread pool, so the event loop keeps serving other
clients (slow uploads, health checks, metrics) while the CPU works. A thread pool was measured against
micro-batching the faces of concurrent requests (docs/benchmarks.md): face detection, which cannot be
batched, is ~90 % of the work, and the batcher was slower, so the thread pool stays.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import json
import logging
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import numpy as np
import prometheus_client as prom
from fastapi import FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ferkit.data.images import MAX_PIXELS, ImageDecodeError, ImageTooLargeError, decode_image
from ferkit.inference.faces import MIN_FACE

log = logging.getLogger("ferkit.serving")
access_log = logging.getLogger("ferkit.serving.access")

STATIC_DIR = Path(str(files("ferkit.serving") / "static"))
MEGABYTE = 1024 * 1024
SERVE_MAX_PIXELS = min(MAX_PIXELS, 25_000_000)  # a 24-megapixel camera photo passes; a bomb does not


@dataclass(frozen=True)
class ServeSettings:
    """How the service loads its model and protects itself.

    Args:
        model: model file (.keras/.h5/.onnx/.tflite); None = the model shipped with ferkit.
        detector: face detector name passed to the recognizer.
        min_face: smallest face side, in pixels, the detector looks for; detection cost falls with its square.
        runtime: classifier runtime passed to the recognizer ("auto" picks by file type).
        max_body_bytes: request bodies above this are refused with 413 while they stream in.
        max_pixels: decoded images above this many pixels are refused with 413 (decompression bombs).
        threads: size of the thread pool that decodes images and runs inference.
        body_timeout: seconds a client may take to send its whole body before getting 408.
    """

    model: str | Path | None = None
    detector: str = "yunet"
    min_face: int = MIN_FACE
    runtime: str = "auto"
    max_body_bytes: int = 10 * MEGABYTE
    max_pixels: int = SERVE_MAX_PIXELS
    threads: int = 2
    body_timeout: float = 30.0


class ApiError(Exception):
    """A request the service refuses: answered with `status` and `{"error": message}`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message, any `fields` extra, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(entry, default=str)


class _Metrics:
    """The Prometheus metrics of one app, in its own registry so several apps can live in one process."""

    def __init__(self) -> None:
        self.registry = registry = prom.CollectorRegistry()
        fast = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
        self.requests = prom.Counter("ferkit_http_requests", "HTTP requests by route, method and status.",
                                     ["route", "method", "status"], registry=registry)
        self.latency = prom.Histogram("ferkit_http_request_duration_seconds", "Time to respond.",
                                      ["route"], registry=registry, buckets=fast)
        self.inference = prom.Histogram("ferkit_inference_seconds", "Decode, detect and classify one image.",
                                        registry=registry, buckets=fast)
        self.faces = prom.Counter("ferkit_faces_detected", "Faces found in images.", registry=registry)
        self.in_flight = prom.Gauge("ferkit_http_requests_in_flight", "Open requests.", registry=registry)
        self.ready = prom.Gauge("ferkit_model_ready", "1 once the model is loaded.", registry=registry)
        prom.ProcessCollector(registry=registry)


class _ObservabilityMiddleware:
    """Counts, times and logs every HTTP request, and turns any uncaught exception into a logged JSON 500.

    A plain ASGI middleware (not `BaseHTTPMiddleware`), so request bodies stream through untouched.
    """

    def __init__(self, app, metrics: _Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response: dict[str, Any] = {"status": 500, "bytes": 0, "started": False}

        async def send_and_record(message):
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["started"] = True
            elif message["type"] == "http.response.body":
                response["bytes"] += len(message.get("body", b""))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_and_record)
        except Exception:
            log.exception("internal error on %s %s", scope["method"], scope["path"])
            response["status"] = 500
            if not response["started"]:
                await JSONResponse({"error": "internal server error; see the server log"}, status_code=500)(
                    scope, receive, send)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_label = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static/")
                                                          else "unmatched")
            self.metrics.requests.labels(route_label, scope["method"], str(response["status"])).inc()
            self.metrics.latency.labels(route_label).observe(elapsed)
            client = scope.get("client")
            access_log.info("%s %s %s", scope["method"], scope["path"], response["status"], extra={"fields": {
                "client": f"{client[0]}:{client[1]}" if client else None,
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "status": response["status"],
                "duration_ms": round(elapsed * 1000, 2),
                "response_bytes": response["bytes"],
            }})


class _MultipartFile:
    """Parses a multipart/form-data body as it streams in, keeping only the bytes of one field, in memory."""

    def __init__(self, boundary: bytes, field: str):
        self.field = field
        self.data = bytearray()
        self.filename: str | None = None
        self.found = False
        self.complete = False
        self._headers: dict[bytes, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._in_field = False
        self._parser = MultipartParser(boundary, callbacks={
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        })

    def write(self, chunk: bytes) -> None:
        self._parser.write(chunk)

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).strip().lower()] = bytes(self._header_value).strip()
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name", b"").decode("latin-1") == self.field and not self.found:
            self.found = self._in_field = True
            self.filename = options.get(b"filename", b"").decode("utf-8", "replace") or None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_field:
            self.data.extend(data[start:end])

    def _part_end(self) -> None:
        self._in_field = False

    def _end(self) -> None:
        self.complete = True


async def read_upload(request: Request, limit: int, timeout: float) -> tuple[bytes, str | None]:
    """The uploaded image bytes and file name, from a multipart `file` field or the raw body.

    Raises ApiError 413 as soon as more than `limit` bytes arrive (or are announced), 408 when the client
    takes longer than `timeout` seconds, 400 for a malformed or empty upload. Nothing is written to disk.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, f"invalid Content-Length header {declared!r}")
        if int(declared) > limit:
            raise ApiError(413, f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    form: _MultipartFile | None = None
    if media_type == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise ApiError(400, "multipart/form-data request without a boundary")
        form = _MultipartFile(boundary, "file")
    body = bytearray()
    received = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
                if form is None:
                    body.extend(chunk)
                else:
                    form.write(chunk)
    except TimeoutError:
        raise ApiError(408, f"request body not received within {timeout:g} s") from None
    except FormParserError as exc:
        raise ApiError(400, f"malformed multipart body: {exc}") from None
    if form is None:
        if not body:
            raise ApiError(400, "empty body: send an image as the body or in a multipart 'file' field")
        return bytes(body), None
    if not form.complete:
        raise ApiError(400, "malformed multipart body: it ends before its closing boundary")
    if not form.found:
        raise ApiError(400, "multipart body has no 'file' field")
    if not form.data:
        raise ApiError(400, "the 'file' field is empty")
    return bytes(form.data), form.filename


class _ModelService:
    """The loaded recognizer, its model card, and the thread pool that runs it."""

    def __init__(self, settings: ServeSettings, recognizer=None):
        self.settings = settings
        self.recognizer = recognizer
        self.card: dict[str, Any] | None = _model_card(recognizer, settings.model) if recognizer else None
        self.load_error: str | None = None
        self.executor: ThreadPoolExecutor | None = None

    @property
    def ready(self) -> bool:
        return self.recognizer is not None

    def load(self) -> None:
        """Load the recognizer and run one warm-up prediction, so the first request is not slow."""
        from ferkit.inference import EmotionRecognizer, load_classifier
        from ferkit.inference.faces import make_detector
        from ferkit.inference.predictor import default_model_path

        started = time.perf_counter()
        classifier = load_classifier(self.settings.model or default_model_path(), self.settings.runtime)
        detector = make_detector(self.settings.detector, self.settings.min_face)
        recognizer = EmotionRecognizer(classifier, detector)
        _warm_up(recognizer)
        self.card = _model_card(recognizer, self.settings.model)
        self.recognizer = recognizer
        log.info("model %s loaded in %.1f s", self.card["name"], time.perf_counter() - started)

    def analyse(self, data: bytes, name: str, annotate: str | None) -> tuple[dict[str, Any], bytes | None]:
        """Decode, detect and classify one image (runs on the thread pool)."""
        started = time.perf_counter()
        rgb = decode_image(data, name=name, max_pixels=self.settings.max_pixels)
        decoded = time.perf_counter()
        result = self.recognizer.predict(rgb)
        predicted = time.perf_counter()
        image = None
        if annotate:
            image = _encode(self._annotate(rgb, result), annotate)
        height, width = rgb.shape[:2]
        response = {
            **result.to_json(file=name),
            "image": {"width": width, "height": height},
            "model": {"name": self.card["name"], "version": self.card["version"]},
            "timing_ms": {"decode": _ms(decoded - started), "inference": _ms(predicted - decoded)},
        }
        return response, image

    def _annotate(self, rgb: np.ndarray, result) -> np.ndarray:
        from ferkit.inference import annotate

        return annotate(rgb, result)


def _warm_up(recognizer) -> None:
    """Run the detector once and trace the classifier for one face and for a few, before serving."""
    height, width = recognizer.metadata.image_size
    channels = 1 if recognizer.metadata.color_mode == "grayscale" else 3
    for count in (1, 2):
        recognizer.classifier.predict_proba(np.zeros((count, height, width, channels), np.uint8))
    recognizer.predict(np.zeros((240, 320, 3), np.uint8))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _encode(rgb: np.ndarray, fmt: str) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".png" if fmt == "png" else ".jpg", rgb[..., ::-1])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode the annotated image as {fmt}")
    return encoded.tobytes()


def _model_card(recognizer, model_path: str | Path | None) -> dict[str, Any]:
    """Name, version, classes, input size and metrics of the recognizer's model, for `/v1/model`."""
    metadata = recognizer.metadata
    path = Path(recognizer.model_path) if getattr(recognizer, "model_path", None) else (
        Path(model_path) if model_path else None)
    extra = dict(metadata.extra or {})
    version = extra.get("version")
    if version is None and path is not None and path.is_file():
        version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return {
        "name": path.stem if path else metadata.architecture,
        "version": str(version or "unknown"),
        "architecture": metadata.architecture,
        "classes": list(metadata.class_names),
        "input_size": list(metadata.image_size),
        "color_mode": metadata.color_mode,
        "temperature": metadata.temperature,
        "detector": {"name": recognizer.detector.name, "min_face": getattr(recognizer.detector, "min_face", None)},
        "metrics": extra.get("metrics", {}),
        "extra": {key: value for key, value in extra.items() if key not in ("metrics", "version")},
    }


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


_PREDICT_BODY = {
    "required": True,
    "description": "The image: a multipart/form-data `file` field, or the raw bytes as the request body.",
    "content": {
        "multipart/form-data": {
            "schema": {"type": "object", "required": ["file"],
                       "properties": {"file": {"type": "string", "format": "binary"}}},
        },
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}

_ERROR_RESPONSES = {
    status: {"description": description, "content": {"application/json": {"example": {"error": "..."}}}}
    for status, description in {
        400: "Malformed multipart body, missing `file` field or empty body.",
        408: "The body was not received in time.",
        413: "Body larger than the limit, or an image with too many pixels (decompression bomb).",
        415: "The upload is not a decodable image.",
        503: "The model is still loading.",
    }.items()
}


def _package_version() -> str:
    try:
        return importlib.metadata.version("ferkit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def create_app(settings: ServeSettings | None = None, recognizer=None) -> FastAPI:
    """The ferkit FastAPI app.

    Args:
        settings: model, detector and safety limits; defaults to the shipped model and a 10 MB body limit.
        recognizer: an already loaded `EmotionRecognizer` to serve instead of loading `settings.model`.
    """
    settings = settings or ServeSettings()
    service = _ModelService(settings, recognizer)
    metrics = _Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.executor = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="ferkit-infer")
        loading = None
        if not service.ready:
            loading = asyncio.create_task(_load(service, metrics))
        else:
            metrics.ready.set(1)
        try:
            yield
        finally:
            if loading is not None:
                loading.cancel()
            service.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="ferkit",
        version=_package_version(),
        summary="Facial emotion recognition: find faces in an image and classify their expression.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.metrics = metrics
    app.add_middleware(_ObservabilityMiddleware, metrics=metrics)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.post("/v1/predict", summary="Find the faces in an image and their emotions",
              openapi_extra={"requestBody": _PREDICT_BODY}, responses={
                  200: {"description": "Faces with box [x, y, w, h], emotion, confidence and probabilities; "
                                       "or the annotated image when `annotate=true`.",
                        "content": {"image/jpeg": {}, "image/png": {}}},
                  **_ERROR_RESPONSES})
    async def predict(
        request: Request,
        annotate: bool = Query(False, description="Return the image with boxes and labels drawn on it."),
        format: Literal["jpeg", "png"] = Query("jpeg", description="Encoding of the annotated image."),
    ) -> Response:
        started = time.perf_counter()
        if not service.ready:
            raise ApiError(503, service.load_error or "the model is still loading; retry shortly")
        try:
            data, filename = await read_upload(request, settings.max_body_bytes, settings.body_timeout)
        except ClientDisconnect:
            return Response(status_code=499)
        received = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            result, image = await loop.run_in_executor(
                service.executor, service.analyse, data, filename or "upload", format if annotate else None)
        except ImageTooLargeError as exc:
            raise ApiError(413, str(exc)) from None
        except ImageDecodeError as exc:
            raise ApiError(415, str(exc)) from None
        finished = time.perf_counter()
        timing = result["timing_ms"]
        timing["upload"] = _ms(received - started)
        timing["total"] = _ms(finished - started)
        metrics.inference.observe((timing["decode"] + timing["inference"]) / 1000)
        metrics.faces.inc(len(result["faces"]))
        server_timing = ", ".join(f"{key};dur={value}" for key, value in timing.items())
        if image is not None:
            return Response(image, media_type=f"image/{format}", headers={
                "Server-Timing": server_timing, "X-Ferkit-Faces": str(len(result["faces"]))})
        return JSONResponse(result, headers={"Server-Timing": server_timing})

    @app.get("/healthz", summary="Readiness: 200 once the model is loaded, 503 before")
    async def healthz() -> JSONResponse:
        if service.ready:
            return JSONResponse({"status": "ok", "model": service.card["name"]})
        status = "error" if service.load_error else "loading"
        return JSONResponse({"status": status, "error": service.load_error}, status_code=503)

    @app.get("/v1/model", summary="The served model: classes, input size, version and metrics")
    async def model_card() -> JSONResponse:
        if not service.ready:
            raise ApiError(503, service.load_error or "the model is still loading; retry shortly")
        return JSONResponse(service.card)

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus_metrics() -> Response:
        return Response(prom.generate_latest(metrics.registry), media_type=prom.CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_offline_docs(app)
    return app


async def _load(service: _ModelService, metrics: _Metrics) -> None:
    """Load the model on a worker thread; a failure is logged and reported by `/healthz`."""
    try:
        await asyncio.to_thread(service.load)
        metrics.ready.set(1)
    except Exception as exc:  # any failure must leave the server up and explaining why it is not ready
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        service.load_error = f"cannot load the model: {reason}"
        log.exception(service.load_error)


def _add_offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the assets that the `fastapi-offline` package ships, so it works offline."""
    assets = Path(str(files("fastapi_offline") / "static"))
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="ferkit API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )
