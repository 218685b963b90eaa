"""Load test of `ferkit serve`: N concurrent clients posting a 640x480 one-face photo for a bounded time.

Starts the server as a subprocess on a free 127.0.0.1 port, waits until `/healthz` is ready, warms it up, then
drives it from this process with N asyncio clients (one connection each) and reports requests/s, latency
percentiles, errors and the server's resident memory (sampled from /proc) over the run.

    .venv/bin/python bench/serve_load.py [--model FILE] [--clients 8] [--duration 30] [--threads 2]

Also reported: the server's CPU time per request and the cores it actually got, which tell how much of a
low number is due to other processes competing for the CPU (`machine_load_average`).

Targets on the 2-core reference machine: >= 80 requests/s at 8 clients, p99 < 250 ms, no errors, flat memory.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from common import SHIPPED_ONNX, free_port, rss_mb, wait_until_healthy
from PIL import Image

SMOKE_MODEL = Path("/tmp/fv_smoke/model.keras")


def one_face_photo() -> bytes:
    """scikit-image's astronaut (a real face) scaled onto a 640x480 grey canvas, as a JPEG."""
    from skimage import data

    canvas = Image.new("RGB", (640, 480), (128, 128, 128))
    canvas.paste(Image.fromarray(data.astronaut()).resize((420, 420)), (110, 30))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemorySampler(threading.Thread):
    """Samples the server's RSS every `interval` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.samples.append((time.monotonic(), rss_mb(self.pid)))


def start_server(args, port: int, log_file) -> subprocess.Popen:
    ferkit = [str(args.ferkit)] if args.ferkit else [sys.executable, "-m", "ferkit.cli.main"]
    command = [*ferkit, "serve", "--port", str(port), "--workers-threads", str(args.threads), *args.server_arg]
    if args.model:
        command += ["--model", str(args.model)]
    env = {name: value for name, value in os.environ.items() if not (args.ferkit and name == "PYTHONPATH")}
    return subprocess.Popen(command, stdout=log_file, stderr=log_file, env=env)


async def drive(base: str, payload: bytes, clients: int, duration: float) -> tuple[list[float], int, float]:
    """Each client posts the photo in a loop until `duration` ends: (latencies in s, errors, elapsed s)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + duration

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=30) as session:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    response = await session.post("/v1/predict", content=payload,
                                                  headers={"content-type": "image/jpeg"})
                    ok = response.status_code == 200 and len(response.json()["faces"]) >= 1
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="model file; default: the shipped fervgg.onnx (what ferkit serve runs), else "
                             "/tmp/fv_smoke/model.keras")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of measured load")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured load first")
    parser.add_argument("--threads", type=int, default=2, help="server --workers-threads")
    parser.add_argument("--server-arg", action="append", default=[], help="extra argument for ferkit serve")
    parser.add_argument("--log", type=Path, default=Path("/tmp/ferkit_serve_load.log"), help="server log")
    parser.add_argument("--ferkit", type=Path, help="a `ferkit` executable to serve with, e.g. a plain install's "
                                                    "(tools/plain_env.py); it serves its shipped model unless "
                                                    "--model is given")
    args = parser.parse_args()
    if args.model is None and args.ferkit is None:
        args.model = next((path for path in (SHIPPED_ONNX, SMOKE_MODEL) if path.is_file()), None)

    payload = one_face_photo()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with args.log.open("w") as log_file:
        server = start_server(args, port, log_file)
        try:
            load_seconds = wait_until_healthy(base, server)
            asyncio.run(drive(base, payload, args.clients, args.warmup))
            sampler = MemorySampler(server.pid)
            rss_before = rss_mb(server.pid)
            cpu_before = cpu_seconds(server.pid)
            sampler.start()
            latencies, errors, elapsed = asyncio.run(drive(base, payload, args.clients, args.duration))
            server_cpu = cpu_seconds(server.pid) - cpu_before
            sampler.stopped.set()
            sampler.join()
            model_card = httpx.get(f"{base}/v1/model", timeout=5).json()
        finally:
            server.terminate()
            server.wait(timeout=30)

    rss = [value for _, value in sampler.samples] or [rss_before]
    third = max(len(rss) // 3, 1)
    percentiles = np.percentile(np.array(latencies) * 1000, [50, 95, 99]) if latencies else [float("nan")] * 3
    result = {
        "model": f"{model_card['name']} ({model_card['version']})",
        "image": "640x480 JPEG, one face",
        "clients": args.clients,
        "server_threads": args.threads,
        "server_args": args.server_arg,
        "duration_s": round(elapsed, 1),
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms": {"mean": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
                       "p50": round(float(percentiles[0]), 1), "p95": round(float(percentiles[1]), 1),
                       "p99": round(float(percentiles[2]), 1)},
        "server_rss_mb": {"before": round(rss_before, 1),
                          "first_third_mean": round(statistics.fmean(rss[:third]), 1),
                          "last_third_mean": round(statistics.fmean(rss[-third:]), 1),
                          "peak": round(max(rss), 1)},
        "server_cpu_ms_per_request": round(server_cpu / max(len(latencies), 1) * 1000, 1),
        "server_cpu_cores_used": round(server_cpu / elapsed, 2),
        "machine_load_average": os.getloadavg(),
        "model_load_s": round(load_seconds, 1),
    }
    print(json.dumps(result, indent=2))
    met = (result["requests_per_s"] >= 80 and result["latency_ms"]["p99"] < 250 and errors == 0)
    print(f"target (>= 80 req/s, p99 < 250 ms, 0 errors): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
