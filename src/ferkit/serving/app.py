"""The ferkit web service: a REST API for emotion recognition and the web page that uses it.

`create_app` builds a FastAPI app around one `EmotionRecognizer`, loaded once in the background at start-up
(`/healthz` answers 503 until it is ready). Request bodies are read by ferkit itself (`uploads`), in memory,
with the size limit enforced while they stream in. Decoding and inference run on a small thread pool
(`model_service`), so the event loop keeps serving other clients (slow uploads, health checks, metrics) while
the CPU works. A thread pool was measured against micro-batching the faces of concurrent requests
(docs/benchmarks.md): face detection, which cannot be batched, is ~90 % of the work, and the batcher was
slower, so the thread pool stays. Every error answers `{"error": message}`.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Literal

import prometheus_client as prom
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ferkit.data.images import ImageDecodeError, ImageTooLargeError
from ferkit.serving.draining import DrainUnreadBody
from ferkit.serving.errors import ApiError, error_response
from ferkit.serving.model_service import ModelService, milliseconds
from ferkit.serving.observability import Metrics, ObservabilityMiddleware, log
from ferkit.serving.settings import ServeSettings
from ferkit.serving.uploads import read_upload

STATIC_DIR = Path(str(files("ferkit.serving") / "static"))

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
        422: "A query parameter has an invalid value.",
        503: "The model is still loading.",
    }.items()
}


def _describe(error: dict) -> str:
    """One invalid request parameter as `query parameter 'format': Input should be 'jpeg' or 'png'`."""
    where, *name = error.get("loc", ()) or ("request",)
    label = f"{where} parameter {'.'.join(map(str, name))!r}" if name else str(where)
    return f"{label}: {error.get('msg', 'invalid value')}"


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
    service = ModelService(settings, recognizer)
    metrics = Metrics()

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
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    app.add_middleware(DrainUnreadBody, max_bytes=settings.drain_max_bytes, total_timeout=settings.body_timeout)

    @app.exception_handler(ApiError)
    async def _apierror_response(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "; ".join(_describe(error) for error in exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _httperror_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

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
        timing["upload"] = milliseconds(received - started)
        timing["total"] = milliseconds(finished - started)
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


async def _load(service: ModelService, metrics: Metrics) -> None:
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
