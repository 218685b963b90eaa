"""Helpers for the prediction tests: tiny model files, real photos shipped by scikit-image, a composed group
photo, and every kind of awkward image file a user may hand to `ferkit predict`."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

FER_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

# The astronaut's face (hairline to chin, ear to ear) in skimage's 512x512 photo, checked by eye on the image.
ASTRONAUT_FACE_CENTRE = (224, 112)
HEAD = (slice(20, 220), slice(130, 320))  # rows, columns of a head-and-shoulders crop around that face
HEAD_FACE_OFFSET = (47, 46, 95)  # face box inside HEAD at scale 1: x, y, side


def write_tiny_model(path: Path, architecture: str = "lenet", temperature: float = 1.0,
                     color_mode: str = "grayscale", face_margin: float | None = None) -> Path:
    """An untrained, very small model on 48x48 faces with the 7 FER-2013 classes, as a ferkit model file."""
    from ferkit.config import load_config
    from ferkit.models import build_model
    from ferkit.models.saving import ModelMetadata, save_model

    sizes = {"lenet": ["NoOfFilters=2", "NoOfUDense1=8", "NoOfUDense2=8"],
             "fervgg": ["NoOfFilters=2", "CropSize=[44,44]"]}[architecture]
    config = load_config(None, [f"Architecture={architecture}", "ImageSize=[48,48]",
                                f"ColorMode={color_mode}", *sizes])
    model = build_model(config, len(FER_CLASSES))
    metadata = ModelMetadata(class_names=FER_CLASSES, image_size=(48, 48), color_mode=color_mode,
                             architecture=architecture, config=config.to_dict(), temperature=temperature,
                             face_margin=face_margin)
    return save_model(model, path, metadata)


def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo: one frontal human face (512x512 RGB)."""
    from skimage import data

    return data.astronaut()


def chelsea() -> np.ndarray:
    """scikit-image's cat photo: no human face."""
    from skimage import data

    return data.chelsea()


def on_astronaut_face(box, tolerance: int = 30) -> bool:
    """True when a box is centred on the astronaut's face and about its size."""
    x, y, w, h = box
    centre_x, centre_y = x + w / 2, y + h / 2
    return (abs(centre_x - ASTRONAUT_FACE_CENTRE[0]) <= tolerance and abs(centre_y - ASTRONAUT_FACE_CENTRE[1])
            <= tolerance and 60 <= max(w, h) <= 170)


def group_photo(scales=(1.0, 0.7, 0.45), size=(480, 640)) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Copies of the astronaut's head at several sizes on a grey background, left to right.

    Returns the image and each face's expected `(centre_x, centre_y, side)`; at scale 0.45 the face is ~43 px.
    """
    head = astronaut()[HEAD]
    canvas = np.full((*size, 3), 120, np.uint8)
    expected = []
    x = 10
    for scale in scales:
        resized = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        y = (size[0] - resized.shape[0]) // 2
        canvas[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
        fx, fy, side = (v * scale for v in HEAD_FACE_OFFSET)
        expected.append((round(x + fx + side / 2), round(y + fy + side / 2), round(side)))
        x += resized.shape[1] + 20
    return canvas, expected


def rolled_head(side: int, degrees: float) -> np.ndarray:
    """The astronaut's head scaled so her face is about `side` pixels, rolled by `degrees` (counter-clockwise)
    about its centre, the corners filled by repeating the edge pixels."""
    head = astronaut()[HEAD]
    small = cv2.resize(head, None, fx=side / HEAD_FACE_OFFSET[2], fy=side / HEAD_FACE_OFFSET[2],
                       interpolation=cv2.INTER_AREA)
    if not degrees:
        return small
    matrix = cv2.getRotationMatrix2D((small.shape[1] / 2, small.shape[0] / 2), degrees, 1.0)
    return cv2.warpAffine(small, matrix, small.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


def encode(image: np.ndarray | Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, fmt, **options)
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: a decompression bomb's calling card."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(
        b"IEND", b"")


def exif_rotated_jpeg(rgb: np.ndarray) -> bytes:
    """The image stored turned 90° anticlockwise, with EXIF orientation 6 ("rotate 90° clockwise to view")."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(rgb)))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=92, exif=exif.tobytes())


def sixteen_bit_png(rgb: np.ndarray) -> bytes:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    image = Image.fromarray(grey)
    assert image.mode == "I;16"
    return encode(image, "PNG")


def awkward_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Every awkward input, each as `name -> (path, expected)`.

    `expected` is "face" (readable: the astronaut's face must be found) or the text the error must contain.
    """
    folder.mkdir(parents=True, exist_ok=True)
    face = astronaut()
    jpeg = encode(face, "JPEG", quality=90)
    rgba = np.dstack([face, np.full(face.shape[:2], 255, np.uint8)])
    rgba[:40, :40, 3] = 0
    contents = {
        "photo.jpg": (jpeg, "face"),
        "sixteen_bit.png": (sixteen_bit_png(face), "face"),
        "palette.png": (encode(Image.fromarray(face).convert("P", palette=Image.Palette.ADAPTIVE)), "face"),
        "rgba.png": (encode(rgba, "PNG"), "face"),
        "exif_rotated.jpg": (exif_rotated_jpeg(face), "face"),
        "grey.webp": (encode(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY), "WEBP"), "face"),
        "not_an_image.jpg": (b"this is a text file, not a picture\n" * 20, "not an image"),
        "truncated.jpg": (jpeg[: len(jpeg) // 3], "truncated"),
        "empty.png": (b"", "empty"),
        "drawing.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "unsupported"),
        "bomb.png": (png_claiming_size(30_000, 30_000), "too large"),
    }
    files = {}
    for name, (data, expected) in contents.items():
        path = folder / name
        path.write_bytes(data)
        files[name] = (path, expected)
    return files


def write_video(path: Path, frames: int = 12, fps: float = 10.0, face_frames: int = 8,
                size: tuple[int, int] = (240, 320)) -> Path:
    """A short mp4 (mp4v): the astronaut's head drifting right for `face_frames` frames, then no face."""
    head = cv2.resize(astronaut()[HEAD], None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size[1], size[0]))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for index in range(frames):
        frame = np.full((*size, 3), 90, np.uint8)
        if index < face_frames:
            x = 20 + 5 * index
            frame[60:60 + head.shape[0], x:x + head.shape[1]] = head
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


# The lines `ferkit predict` (a video with --out) and `ferkit evaluate` print without ferkit[video] / [plots].
VIDEO_NOTE = ("note: annotated video written as mp4v, which browsers do not play "
              "(for H.264: pip install 'ferkit[video]')")
TIMELINE_PLOT_NOTE = "note: timeline plots (.timeline.png) skipped (for PNG figures: pip install 'ferkit[plots]')"
EVALUATION_FIGURES_NOTE = ("note: confusion_matrix.png, reliability.png, wrong_examples.png skipped "
                           "(for PNG figures: pip install 'ferkit[plots]')")
