"""Generated and mutated inputs for the fuzz campaign (bench/fuzz.py, tests/fuzz_test.py).

Every generator takes a `numpy.random.Generator`, so a seed reproduces a campaign input by input. Seeds are
small valid files (images in nine encodings, a FER-2013 npz and CSV, a ferkit model file, a training
configuration); mutations are byte-level (flips, overwrites, insertions, deletions, truncation, splicing)
and structure-level (wrong shapes, types, ranges, missing or extra keys, broken metadata).
"""

from __future__ import annotations

import io
import json
import string
import zipfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

SPECIALS = [b"\0", b"\xff" * 8, b"\r\n\r\n", b"--", b"%s%n", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a",
            b"IHDR\xff\xff\xff\xff\xff\xff\xff\xff", b"\x00\x00\x40\x00" * 4]


def seed_images() -> list[bytes]:
    """Small valid images: JPEG, PNG (RGB, grey, 1-bit, 16-bit, palette with transparency, RGBA), GIF, BMP,
    WebP and TIFF, from scikit-image's astronaut photo."""
    from skimage import data

    face = Image.fromarray(data.astronaut()).resize((96, 96))
    variants = [(face, "JPEG"), (face, "PNG"), (face.convert("L"), "PNG"), (face.convert("1"), "PNG"),
                (Image.fromarray(np.asarray(face.convert("L"), np.uint16) * 257), "PNG"), (face.convert("RGBA"), "PNG"),
                (face.convert("P"), "GIF"), (face, "BMP"), (face, "WEBP"), (face, "TIFF")]
    palette = face.convert("P")
    palette.info["transparency"] = 0
    variants.append((palette, "PNG"))
    encoded = []
    for image, fmt in variants:
        buffer = io.BytesIO()
        image.save(buffer, fmt)
        encoded.append(buffer.getvalue())
    return encoded


def mutate(rng: np.random.Generator, data: bytes, others: list[bytes] = ()) -> bytes:
    """One to eight byte-level edits of `data`."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        operation = int(rng.integers(0, 8))
        position = int(rng.integers(0, len(out) + 1))
        if operation == 0 and out:  # flip a bit
            index = min(position, len(out) - 1)
            out[index] ^= 1 << int(rng.integers(0, 8))
        elif operation == 1 and out:  # overwrite a byte
            out[min(position, len(out) - 1)] = int(rng.integers(0, 256))
        elif operation == 2:  # insert random bytes
            out[position:position] = rng.bytes(int(rng.integers(1, 64)))
        elif operation == 3:  # insert a special value
            out[position:position] = SPECIALS[int(rng.integers(0, len(SPECIALS)))]
        elif operation == 4:  # delete a range
            del out[position:position + int(rng.integers(1, 256))]
        elif operation == 5:  # truncate
            del out[position:]
        elif operation == 6 and others:  # splice with another seed
            other = others[int(rng.integers(0, len(others)))]
            cut = int(rng.integers(0, len(other) + 1))
            out[position:] = other[cut:]
        elif operation == 7 and out:  # repeat a range
            end = min(len(out), position + int(rng.integers(1, 128)))
            out[position:position] = out[position:end] * int(rng.integers(1, 4))
    return bytes(out)


def image_bytes(rng: np.random.Generator, seeds: list[bytes]) -> bytes:
    """A mutated seed image (mostly), an untouched one, or random bytes."""
    pick = rng.random()
    seed = seeds[int(rng.integers(0, len(seeds)))]
    if pick < 0.08:
        return seed
    if pick < 0.15:
        return rng.bytes(int(rng.integers(0, 2048)))
    return mutate(rng, seed, seeds)


def _token(rng: np.random.Generator, low: int, high: int, alphabet: str) -> str:
    return "".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), int(rng.integers(low, high + 1))))


BOUNDARY_CHARS = string.ascii_letters + string.digits + "'()+_,-./:=? "
HEADER_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
VALUE_CHARS = "".join(char for char in string.printable if char not in "\t\r\n\x0b\x0c")


def multipart_body(rng: np.random.Generator, seeds: list[bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body (often with a `file` field holding an image) and its Content-Type."""
    boundary = _token(rng, 1, 300 if rng.random() < 0.1 else 70, BOUNDARY_CHARS).strip() or "b"
    parts = []
    for _ in range(int(rng.integers(0, 4))):
        name = "file" if rng.random() < 0.7 else _token(rng, 0, 12, string.ascii_letters + '"; =')
        headers = [f'Content-Disposition: form-data; name="{name}"'
                   + (f'; filename="{_token(rng, 0, 20, VALUE_CHARS)}"' if rng.random() < 0.7 else "")]
        if rng.random() < 0.5:
            headers.append(f"Content-Type: {_token(rng, 0, 30, VALUE_CHARS)}")
        if rng.random() < 0.1:
            headers.append(f"{_token(rng, 1, 20, HEADER_CHARS)}: {_token(rng, 0, 200, VALUE_CHARS)}")
        content = image_bytes(rng, seeds) if name == "file" else rng.bytes(int(rng.integers(0, 64)))
        head = "".join(f"{header}\r\n" for header in headers)
        parts.append(f"--{boundary}\r\n{head}\r\n".encode("utf-8", "replace") + content)
    body = b"\r\n".join(parts) + (f"\r\n--{boundary}--\r\n".encode() if rng.random() < 0.85 else b"")
    if rng.random() < 0.3:
        body = mutate(rng, body)
    declared = boundary if rng.random() < 0.9 else _token(rng, 0, 80, BOUNDARY_CHARS)
    quoted = f'"{declared}"' if rng.random() < 0.2 else declared
    return body, f"multipart/form-data; boundary={quoted}" if rng.random() < 0.95 else "multipart/form-data"


METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "BREW", "M-SEARCH"]
PATHS = ["/v1/predict", "/healthz", "/v1/model", "/metrics", "/", "/docs", "/openapi.json", "/static/app.js",
         "/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/v1/predict/", "//v1//predict",
         "/docs-assets/swagger-ui.css", "/v1/predict%00", "/" + "a" * 3000]
QUERIES = ["", "annotate=true", "annotate=true&format=png", "annotate=maybe", "format=gif&annotate=1",
           "annotate=true&annotate=false", "format=", "%zz", "a=" + "b" * 2000]


def request_spec(rng: np.random.Generator, seeds: list[bytes]) -> dict:
    """An HTTP request for an httpx-style client: method, path+query, headers and body."""
    method = "POST" if rng.random() < 0.6 else METHODS[int(rng.integers(0, len(METHODS)))]
    path = "/v1/predict" if rng.random() < 0.6 else PATHS[int(rng.integers(0, len(PATHS)))]
    query = QUERIES[int(rng.integers(0, len(QUERIES)))] if rng.random() < 0.4 else ""
    headers = {}
    kind = rng.random()
    if kind < 0.45:
        body = image_bytes(rng, seeds)
        headers["content-type"] = ["image/jpeg", "image/png", "application/octet-stream", "text/plain", "",
                                   _token(rng, 0, 40, VALUE_CHARS)][int(rng.integers(0, 6))]
    elif kind < 0.9:
        body, headers["content-type"] = multipart_body(rng, seeds)
    else:
        body = rng.bytes(int(rng.integers(0, 512)))
    for _ in range(int(rng.integers(0, 3))):
        headers[_token(rng, 1, 24, HEADER_CHARS)] = _token(rng, 0, 300, VALUE_CHARS)
    if rng.random() < 0.05:
        headers["content-encoding"] = ["gzip", "br", "deflate", "identity", "x"][int(rng.integers(0, 5))]
    headers = {name: value.strip() for name, value in headers.items()}  # HTTP clients refuse edge whitespace
    return {"method": method, "url": path + (f"?{query}" if query else ""), "headers": headers, "body": body}


def raw_request(rng: np.random.Generator, seeds: list[bytes]) -> bytes:
    """A complete HTTP/1.1 request as bytes, often malformed: bad request lines, headers, lengths, chunking."""
    spec = request_spec(rng, seeds)
    body = spec["body"][:4096]
    lines = [f"{spec['method']} {spec['url']} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in spec["headers"].items()]
    if rng.random() < 0.5:
        lines.append("Transfer-Encoding: chunked")
        body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    if rng.random() < 0.5:  # damage the head only, so the declared body length stays honest or too short
        head_end = request.index(b"\r\n\r\n")
        request = mutate(rng, request[:head_end]) + request[head_end:]
    return request


def fer_arrays(rng: np.random.Generator, rows: int = 24) -> dict[str, np.ndarray]:
    """A valid npz payload in fer2013.npz's layout: images, labels, usage."""
    labels = np.arange(rows) % 7
    images = rng.integers(0, 256, (rows, 48, 48), dtype=np.uint8)
    usage = np.array(["Training", "PublicTest", "PrivateTest"])[np.arange(rows) % 3]
    return {"images": images, "labels": labels.astype(np.int8), "usage": usage}


def npz_bytes(rng: np.random.Generator) -> bytes:
    """An npz dataset with structural damage (shapes, types, ranges, keys) or byte-level damage."""
    arrays = fer_arrays(rng)
    rows = len(arrays["labels"])
    for _ in range(int(rng.integers(1, 4))):
        key = ["images", "labels", "usage"][int(rng.integers(0, 3))]
        choice = int(rng.integers(0, 9)) if key in arrays and arrays[key].ndim else 6
        if choice == 0:
            arrays.pop(key)
        elif choice == 1:
            arrays[key] = arrays[key][: int(rng.integers(0, rows))]
        elif choice == 2 and key == "labels":
            arrays[key] = np.array([-1, 7, 99, 127, -128, 3])[rng.integers(0, 6, rows)].astype(np.int64)
        elif choice == 3:
            arrays[key] = rng.normal(0, 1e6, arrays[key].shape).astype(np.float64)
        elif choice == 4 and key == "images":
            shape = [(rows, 48, 48, 3), (rows, 48), (rows,), (rows, 0, 0), (rows, 1, 1), (rows, 48, 48, 2),
                     (rows, 2, 48, 48, 1)][int(rng.integers(0, 7))]
            arrays[key] = rng.integers(0, 256, shape, dtype=np.uint8)
        elif choice == 5:
            arrays[key] = np.array(["x", "Training", "", "PublicTest"])[rng.integers(0, 4, rows)]
        elif choice == 6:
            arrays[f"extra{int(rng.integers(0, 9))}"] = rng.integers(0, 5, 3)
        elif choice == 7:
            arrays[key] = np.array(float("nan")) if rng.random() < 0.5 else np.zeros((0,), np.uint8)
        elif choice == 8:
            arrays["ferplus_votes"] = rng.integers(-5, 300, (rows, int(rng.integers(1, 12))))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    return mutate(rng, data) if rng.random() < 0.3 else data


def csv_text(rng: np.random.Generator) -> bytes:
    """A FER-2013 style CSV (emotion,pixels,Usage) with damaged rows, columns or bytes."""
    rows = []
    for index in range(int(rng.integers(0, 24))):
        side = 48 if rng.random() < 0.85 else int(rng.integers(0, 60))
        pixels = rng.integers(0, 256, side * side)
        if rng.random() < 0.1 and len(pixels):
            pixels[int(rng.integers(0, len(pixels)))] = int(rng.choice([-1, 256, 99999]))
        pixel_text = " ".join(map(str, pixels)) if rng.random() < 0.9 else _token(rng, 0, 40, VALUE_CHARS)
        emotion = index % 7 if rng.random() < 0.85 else rng.choice(["-1", "7", "x", "", "3.5", "1e9"])
        usage = ["Training", "PublicTest", "PrivateTest", "", "Other"][int(rng.integers(0, 5))]
        rows.append(f'{emotion},"{pixel_text}",{usage}')
    header = "emotion,pixels,Usage" if rng.random() < 0.85 else ["pixels,Usage", "", "emotion;pixels",
                                                               "\ufeffemotion,pixels,Usage"][
        int(rng.integers(0, 4))]
    text = ("\n".join([header, *rows]) + "\n").encode("utf-8")
    return mutate(rng, text) if rng.random() < 0.25 else text


def model_bytes(rng: np.random.Generator, model: bytes) -> bytes:
    """The tiny model file with a damaged `ferkit.json`, missing entries, or byte-level damage."""
    if rng.random() < 0.35:
        return mutate(rng, model)
    with zipfile.ZipFile(io.BytesIO(model)) as source:
        entries = {info.filename: source.read(info) for info in source.infolist()}
    metadata_name = next((name for name in entries if name.endswith("ferkit.json")), "ferkit.json")
    metadata = json.loads(entries.get(metadata_name, b"{}"))
    choice = int(rng.integers(0, 8))
    if choice == 0:
        entries[metadata_name] = mutate(rng, entries.get(metadata_name, b"{}"))
    elif choice == 1 and metadata:
        metadata.pop(list(metadata)[int(rng.integers(0, len(metadata)))])
        entries[metadata_name] = json.dumps(metadata).encode()
    elif choice == 2:
        entries[metadata_name] = json.dumps([1, 2, 3] if rng.random() < 0.5 else "text").encode()
    elif choice == 3:
        metadata["class_names"] = ["a", "b", "c"]
        entries[metadata_name] = json.dumps(metadata).encode()
    elif choice == 4:
        metadata["image_size"] = [int(rng.integers(-50, 0)), 48] if rng.random() < 0.5 else [10 ** 6, 10 ** 6]
        entries[metadata_name] = json.dumps(metadata).encode()
    elif choice == 5:
        entries.pop(list(entries)[int(rng.integers(0, len(entries)))])
    elif choice == 6:
        entries[metadata_name] = b" " * (64 * 1024 * 1024)  # 64 MB that compresses to ~64 KB
    else:
        metadata["color_mode"] = ["cmyk", None, 7][int(rng.integers(0, 3))]
        entries[metadata_name] = json.dumps(metadata).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in entries.items():
            target.writestr(name, content)
    return buffer.getvalue()


BASE_CONFIG = {"Architecture": "lenet", "ImageSize": [48, 48], "NoOfFilters": 2, "NoOfUDense1": 8,
               "NoOfUDense2": 8, "NoOfEpochs": 1, "BatchSize": 8}
ODD_VALUES = [None, -1, 0, 1.5, "text", [], [1], [1, 2, 3], {"a": 1}, True, 10 ** 12, -(10 ** 12), float("nan"),
              float("inf"), "", "../../etc/passwd", [0, 0], [-48, 48], [100000, 100000]]
CONFIG_KEYS = ["Architecture", "NoOfFilters", "KernelSize", "NoOfStrides", "RegularizationRate", "PoolSize",
               "DropOutRate", "NoOfUDense1", "NoOfUDense2", "NoOfClasses", "LearningRate", "BatchSize",
               "ImageSize", "ColorMode", "ValidationSplit", "Seed", "Patience", "Optimizer", "WeightDecay",
               "LRSchedule", "WarmupEpochs", "LabelSmoothing", "Augment", "CropSize", "InitialWeights",
               "Teacher", "TeacherWeight", "Unknown_Key"]


def config_yaml(rng: np.random.Generator) -> bytes:
    """A training configuration with one to three odd values, or damaged YAML text (NoOfEpochs stays 1, so a
    configuration that is valid trains for one epoch only)."""
    config = dict(BASE_CONFIG)
    for _ in range(int(rng.integers(1, 4))):
        config[CONFIG_KEYS[int(rng.integers(0, len(CONFIG_KEYS)))]] = ODD_VALUES[int(rng.integers(0, len(
            ODD_VALUES)))]
    text = yaml.safe_dump(config).encode()
    pick = rng.random()
    if pick < 0.2:
        return mutate(rng, text)
    if pick < 0.25:
        return ["- a\n- b\n", "just text\n", "", "{", "a: [1, 2\n", "!!python/object:os.system {}\n"][
            int(rng.integers(0, 6))].encode()
    return text


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
