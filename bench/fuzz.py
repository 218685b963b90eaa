"""Fuzz campaign (issue 21): generated and mutated inputs through the REST API and the CLI, counting server
errors, tracebacks, crashes, lost answers and memory growth. The target is zero of each and flat memory.

API: a real `ferkit serve` process on 127.0.0.1 (a tiny untrained model, haar detector, 3 s body and header
timeouts so stalled requests end fast) gets image bodies, multipart bodies and odd methods/paths/headers/
queries through httpx, and raw, often malformed HTTP/1.1 requests through sockets. Every error answer of the
app must be `{"error": ...}` JSON; uvicorn's own 400 for an unparseable request is plain text and accepted.
CLI, in-process through the Typer app: `predict` over folders of mutated images (one JSON line per file
expected), `evaluate` on damaged npz and CSV datasets, `predict --model` with damaged model files, `train`
with odd configurations. A FerkitError (exit 2) is a correct refusal; any other exception is a traceback.

    python bench/fuzz.py                      # 10,050 inputs, 9-16 min on 2 shared cores
    python bench/fuzz.py --scale 0.1 --seed 3 # a tenth, another seed
Exits 1 when anything was found; the report (JSON, with the first examples of each finding) goes to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import fuzz_inputs as inputs  # noqa: E402
from common import free_port, rss_mb, wait_until_healthy  # noqa: E402

COUNTS = {"api_http": 5600, "api_raw": 1500, "cli_images": 2500, "cli_npz": 150, "cli_csv": 150,
          "cli_models": 100, "cli_configs": 50}
SHORT_TIMEOUT = 3.0


@dataclass
class Tally:
    """What one target's inputs produced."""

    target: str
    inputs: int = 0
    outcomes: Counter = field(default_factory=Counter)
    server_errors: int = 0
    tracebacks: int = 0
    crashes: int = 0
    lost: int = 0
    bad_error_bodies: int = 0
    examples: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)

    def note(self, kind: str, detail: str, signature: str | None = None) -> None:
        """Count one finding; `signature` (default: the detail) groups findings of the same cause."""
        setattr(self, kind, getattr(self, kind) + 1)
        key = f"{kind}: {signature or detail[:100]}"
        if key not in self.kinds and len(self.examples) < 40:
            self.examples.append(f"{kind}: {detail[:300]}")
        self.kinds[key] += 1

    @property
    def findings(self) -> int:
        return self.server_errors + self.tracebacks + self.crashes + self.lost + self.bad_error_bodies

    def line(self) -> str:
        top = ", ".join(f"{key} {value}" for key, value in self.outcomes.most_common(6))
        return (f"{self.target:12s} inputs {self.inputs:6d}  5xx {self.server_errors}  tracebacks "
                f"{self.tracebacks}  crashes {self.crashes}  lost {self.lost}  non-JSON errors "
                f"{self.bad_error_bodies}  ({top})")


def write_tiny_model(path: Path) -> Path:
    """An untrained lenet for 48x48 grey faces and the 7 FER-2013 classes, saved as a ferkit model file."""
    from ferkit.config import load_config
    from ferkit.data.sources import FER2013_CLASSES
    from ferkit.models import build_model
    from ferkit.models.saving import ModelMetadata, save_model

    config = load_config(None, ["ImageSize=[48,48]", "NoOfFilters=2", "NoOfUDense1=8", "NoOfUDense2=8"])
    metadata = ModelMetadata(class_names=list(FER2013_CLASSES), image_size=(48, 48), color_mode="grayscale",
                             architecture="lenet", config=config.model_dump(mode="json"))
    return save_model(build_model(config, len(FER2013_CLASSES)), path, metadata)


# ---------------------------------------------------------------------------------------------------- API


def check_http_answer(tally: Tally, spec: dict, status: int, content_type: str, body: bytes) -> None:
    """Count one answer of the app: a 5xx is a server error, an error status must carry `{"error": ...}`."""
    tally.inputs += 1
    tally.outcomes[status] += 1
    summary = f"{spec['method']} {spec['url'][:80]} {spec['headers'].get('content-type', '')[:60]!r} -> {status}"
    if status >= 500:
        tally.note("server_errors", summary)
    elif status >= 400 and spec["method"] != "HEAD":
        try:
            assert isinstance(json.loads(body)["error"], str) and "application/json" in content_type
        except (ValueError, KeyError, TypeError, AssertionError):
            tally.note("bad_error_bodies", f"{summary}: {body[:120]!r}")


def fuzz_http(client, count: int, rng: np.random.Generator, seeds: list[bytes], tally: Tally,
              threads: int = 1) -> None:
    """`count` requests from `request_spec` through an httpx-style client (httpx.Client or TestClient)."""
    specs = [inputs.request_spec(rng, seeds) for _ in range(count)]

    def send(spec: dict):
        try:
            return client.request(spec["method"], spec["url"], headers=spec["headers"], content=spec["body"],
                                  timeout=60)
        except Exception as exc:  # a transport failure is an unanswered request, whatever its type
            return exc

    with ThreadPoolExecutor(threads) as pool:
        for spec, response in zip(specs, pool.map(send, specs), strict=True):
            if isinstance(response, Exception):
                tally.inputs += 1
                tally.note("lost", f"{spec['method']} {spec['url'][:80]}: {type(response).__name__}: {response}")
            else:
                check_http_answer(tally, spec, response.status_code, response.headers.get("content-type", ""),
                                  response.content)


def fuzz_raw(port: int, count: int, rng: np.random.Generator, seeds: list[bytes], tally: Tally) -> None:
    """`count` raw (often malformed) HTTP/1.1 requests over sockets; any answer but a 5xx is fine."""
    requests = [inputs.raw_request(rng, seeds) for _ in range(count)]

    def send(request: bytes) -> tuple[bytes, str | None]:
        answer = b""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=SHORT_TIMEOUT * 4) as connection:
                connection.sendall(request)
                while chunk := connection.recv(65536):
                    answer += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass  # a reset after (or instead of) a refusal of a malformed request
        except OSError as exc:
            return answer, type(exc).__name__
        return answer, None

    with ThreadPoolExecutor(8) as pool:
        for request, (answer, failure) in zip(requests, pool.map(send, requests), strict=True):
            tally.inputs += 1
            if failure:
                tally.note("lost", f"{request[:80]!r}: {failure}")
            status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
            tally.outcomes[status or "closed"] += 1
            if status >= 500:
                tally.note("server_errors", f"{request[:120]!r} -> {status}")


def serve_for_fuzzing(model: str, port: int) -> None:
    """Run the app like `ferkit serve`, with short body and header timeouts (called in a subprocess)."""
    import uvicorn

    from ferkit.cli.serve import log_config
    from ferkit.serving import ServeSettings, create_app
    from ferkit.serving.server import server_options

    settings = ServeSettings(model=model, body_timeout=SHORT_TIMEOUT)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_config=log_config("info"),
                access_log=False, **server_options(header_timeout=SHORT_TIMEOUT))


def run_api(counts: dict, rng: np.random.Generator, seeds: list[bytes], workdir: Path) -> tuple[list[Tally], dict]:
    import httpx

    model = write_tiny_model(workdir / "tiny.keras")
    port = free_port()
    log_path = workdir / "server.log"
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(model), str(port)],
                              stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    http, raw = Tally("api_http"), Tally("api_raw")
    memory = {}
    try:
        try:
            wait_until_healthy(base, server, timeout=300)
        except RuntimeError as exc:
            raise RuntimeError(f"fuzz server did not start ({exc}):\n{log_path.read_text()[-2000:]}") from None
        with httpx.Client(base_url=base) as client:
            warm_up = max(1, counts["api_http"] // 10)
            fuzz_http(client, warm_up, rng, seeds, http, threads=2)
            memory["server_rss_after_warm_up_mb"] = rss_mb(server.pid)
            peak = memory["server_rss_after_warm_up_mb"]
            remaining = counts["api_http"] - warm_up
            for start in range(0, remaining, 500):
                fuzz_http(client, min(500, remaining - start), rng, seeds, http, threads=2)
                peak = max(peak, rss_mb(server.pid))
            fuzz_raw(port, counts["api_raw"], rng, seeds, raw)
            memory["server_rss_end_mb"] = rss_mb(server.pid)
            memory["server_rss_peak_mb"] = max(peak, memory["server_rss_end_mb"])
            assert client.get("/healthz").status_code == 200
    finally:
        alive = server.poll() is None
        server.terminate()
        server.wait(timeout=30)
    if not alive:
        http.note("crashes", f"the server exited with {server.returncode}")
    for line in log_path.read_text().splitlines():
        if '"traceback"' in line or '"level": "error"' in line or line.startswith("Traceback"):
            http.note("tracebacks", line)
    return [http, raw], memory


# ---------------------------------------------------------------------------------------------------- CLI


def run_cli_command(runner, arguments: list[str], tally: Tally, label: str) -> str:
    """Run `ferkit <arguments>` in-process; a FerkitError or exit 0/1/2 is an answer, anything else a traceback."""
    from ferkit.cli.main import app
    from ferkit.errors import FerkitError

    result = runner.invoke(app, arguments)
    error = result.exception
    if error is None or (isinstance(error, SystemExit) and error.code in (0, 1, 2, None)):
        outcome = f"exit {result.exit_code}"
    elif isinstance(error, FerkitError):
        outcome = "refused"
    else:
        outcome = "traceback"
        message = str(error).splitlines()[0] if str(error) else ""
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.name}"
        tally.note("tracebacks", f"{label}: {type(error).__name__}: {message}",
                   signature=f"{arguments[0]} {type(error).__name__} in {where}")
    tally.outcomes[outcome] += 1
    return result.stdout


def fuzz_cli_images(runner, model: Path, count: int, rng, seeds, workdir: Path, tally: Tally) -> None:
    """`ferkit predict FOLDER` over folders of mutated images: every file must get exactly one JSON line."""
    suffixes = [".jpg", ".png", ".gif", ".bmp", ".webp", ".tif", ".jpeg", ".pgm"]
    for batch, start in enumerate(range(0, count, 500)):
        folder = workdir / f"images{batch}"
        names = []
        for index in range(start, min(count, start + 500)):
            path = inputs.write(folder / f"i{index}{suffixes[index % len(suffixes)]}", inputs.image_bytes(rng, seeds))
            names.append(str(path))
        output = run_cli_command(runner, ["predict", str(folder), "--model", str(model), "--detector", "haar"],
                                 tally, f"predict {folder}")
        answered = Counter()
        for line in output.splitlines():
            try:
                answered[json.loads(line)["file"]] += 1
            except (ValueError, KeyError, TypeError):
                continue
        for name in names:
            tally.inputs += 1
            if answered[name] != 1:
                tally.note("lost", f"{name}: {answered[name]} output lines")


def fuzz_cli_files(runner, kind: str, count: int, rng, workdir: Path, tally: Tally, model: Path,
                   model_seed: bytes, photo: Path, dataset: Path) -> None:
    """`evaluate` on damaged npz/CSV files, `predict --model` with damaged models, `train` with odd configs."""
    for index in range(count):
        out = workdir / f"{kind}-out{index}"
        if kind == "cli_npz":
            path = inputs.write(workdir / kind / f"d{index}.npz", inputs.npz_bytes(rng))
            arguments = ["evaluate", "--model", str(model), "--data", str(path), "--split", "PrivateTest",
                         "--detector", "none", "--out", str(out)]
        elif kind == "cli_csv":
            path = inputs.write(workdir / kind / f"d{index}.csv", inputs.csv_text(rng))
            arguments = ["evaluate", "--model", str(model), "--data", str(path), "--split", "PrivateTest",
                         "--detector", "none", "--out", str(out)]
        elif kind == "cli_models":
            path = inputs.write(workdir / kind / f"m{index}.keras", inputs.model_bytes(rng, model_seed))
            arguments = ["predict", str(photo), "--model", str(path), "--detector", "none"]
        else:
            path = inputs.write(workdir / kind / f"c{index}.yaml", inputs.config_yaml(rng))
            arguments = ["train", "--config", str(path), "--data", str(dataset), "--out", str(out)]
        tally.inputs += 1
        run_cli_command(runner, arguments, tally, str(path))


def run_cli(counts: dict, rng: np.random.Generator, seeds: list[bytes], workdir: Path) -> tuple[list[Tally], dict]:
    from typer.testing import CliRunner

    runner = CliRunner()
    model = workdir / "cli-tiny.keras"
    if not model.exists():
        write_tiny_model(model)
    photo = inputs.write(workdir / "photo.jpg", seeds[0])
    dataset = workdir / "tiny.npz"
    np.savez(dataset, **inputs.fer_arrays(np.random.default_rng(0)))
    tallies = [Tally("cli_images")]
    fuzz_cli_images(runner, model, min(counts["cli_images"], 100), rng, seeds, workdir / "warm", Tally("warm"))
    memory = {"cli_rss_after_warm_up_mb": rss_mb(os.getpid())}
    fuzz_cli_images(runner, model, counts["cli_images"], rng, seeds, workdir, tallies[0])
    for kind in ("cli_npz", "cli_csv", "cli_models", "cli_configs"):
        tallies.append(Tally(kind))
        fuzz_cli_files(runner, kind, counts[kind], rng, workdir, tallies[-1], model, model.read_bytes(), photo,
                       dataset)
    memory["cli_rss_end_mb"] = rss_mb(os.getpid())
    return tallies, memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every input count by this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["api", "cli"], help="run one half of the campaign")
    parser.add_argument("--out", type=Path, default=Path("runs/fuzz/report.json"))
    parser.add_argument("--serve", nargs=2, metavar=("MODEL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_for_fuzzing(args.serve[0], int(args.serve[1]))
        return 0
    counts = {key: max(1, round(value * args.scale)) for key, value in COUNTS.items()}
    seeds = inputs.seed_images()
    started = time.monotonic()
    tallies, memory = [], {}
    with tempfile.TemporaryDirectory(prefix="ferkit-fuzz-") as scratch:
        for stream, (half, run) in enumerate((("api", run_api), ("cli", run_cli))):
            if args.only in (None, half):  # each half has its own random stream: --only reproduces it exactly
                rng = np.random.default_rng([args.seed, stream])
                found, measured = run(counts, rng, seeds, Path(scratch))
                tallies += found
                memory.update(measured)
                print(f"{half} done after {(time.monotonic() - started) / 60:.1f} min", flush=True)
    elapsed = time.monotonic() - started
    for tally in tallies:
        print(tally.line())
        for kind, count in tally.kinds.most_common():
            print(f"    {count:5d} x {kind}")
    total = sum(tally.inputs for tally in tallies)
    findings = sum(tally.findings for tally in tallies)
    print(f"total: {total} inputs in {elapsed / 60:.1f} min, {findings} findings; memory (MB): "
          + ", ".join(f"{key} {value:.0f}" for key, value in memory.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seed": args.seed, "counts": counts, "seconds": round(elapsed),
                                    "memory_mb": memory, "targets": [vars(t) for t in tallies]}, indent=2,
                                   default=str))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
