"""What the service reports about itself: a JSON log line per request and Prometheus metrics.

`ObservabilityMiddleware` counts, times and logs every request and turns an uncaught exception into a logged
JSON 500; `Metrics` holds the counters in the app's own registry; `JsonLogFormatter` writes one JSON object per
log line (uvicorn's and ferkit's loggers use it under `ferkit serve`).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any

import prometheus_client as prom
from fastapi.responses import JSONResponse

log = logging.getLogger("ferkit.serving")
access_log = logging.getLogger("ferkit.serving.access")

# Metric labels come from these fixed sets only (a method or path invented by a client must not add a series):
# the method if standard, else OTHER; the matched route's template, "/static" or "unmatched"; the status code.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


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


class Metrics:
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


class ObservabilityMiddleware:
    """Counts, times and logs every HTTP request, and turns any uncaught exception into a logged JSON 500.

    A plain ASGI middleware (not `BaseHTTPMiddleware`), so request bodies stream through untouched.
    """

    def __init__(self, app, metrics: Metrics):
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
            method_label = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
            self.metrics.requests.labels(route_label, method_label, str(response["status"])).inc()
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
