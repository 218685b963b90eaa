"""Safe image decoding shared by data loading, prediction and serving.

Every image enters ferkit through `decode_image`, which returns an RGB uint8 array or raises
`ImageDecodeError` with a one-line reason. It applies EXIF orientation, flattens alpha onto white, scales
16-bit images to 8 bits, expands palettes, and refuses images above a pixel limit (decompression bombs)
before decoding their pixels.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ferkit.errors import FerkitError

MAX_PIXELS = 50_000_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm")


class ImageDecodeError(FerkitError):
    """An input that is not a usable image."""


class ImageTooLargeError(ImageDecodeError):
    """An image with more pixels than allowed (a possible decompression bomb)."""


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max() > 255 else 255.0
        return np.repeat((array / top * 255).round().clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        span = max(array.max() - array.min(), 1e-12)
        gray = ((array - array.min()) / span * 255).round().astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def _reduced(image: Image.Image, max_side: int) -> Image.Image:
    """`image` shrunk by a whole factor so its longer side is at most `max_side` (box filter)."""
    factor = -(-max(image.size) // max_side)
    if image.mode == "1":
        image = image.convert("L")
    elif image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    try:
        return image.reduce(factor)
    except ValueError:  # modes without a box filter (16-bit) are subsampled instead
        size = (max(1, image.width // factor), max(1, image.height // factor))
        return image.resize(size, Image.Resampling.NEAREST)


def _open_file(path: Path, label: str):
    """Open an image file for reading; a missing, empty or unreadable file is an ImageDecodeError."""
    try:
        if not path.is_file():
            raise ImageDecodeError(f"{label}: file not found")
        if path.stat().st_size == 0:
            raise ImageDecodeError(f"{label}: empty file (0 bytes)")
        return path.open("rb")
    except PermissionError:
        raise ImageDecodeError(f"{label}: permission denied (file not readable)") from None
    except OSError as exc:
        raise ImageDecodeError(f"{label}: cannot read file ({exc.strerror or type(exc).__name__})") from None


def decode_image(source: bytes | str | Path, name: str | None = None, max_pixels: int = MAX_PIXELS,
                 max_side: int | None = None) -> np.ndarray:
    """Decode an image file or bytes into an (H, W, 3) RGB uint8 array.

    Args:
        source: the encoded bytes, or a path to an image file.
        name: how to name the input in error messages (defaults to the path).
        max_pixels: images with more pixels than this are refused as possible decompression bombs.
        max_side: if given, larger images come back shrunk by a whole factor to at most this side (JPEGs are
            decoded at the reduced size directly), bounding the memory a huge but valid image costs.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    if isinstance(source, bytes):
        if not source:
            raise ImageDecodeError(f"{label}: empty input (0 bytes)")
        stream = io.BytesIO(source)
    else:
        stream = _open_file(Path(source), label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageTooLargeError(
                        f"{label}: image too large ({width}x{height} = {width * height} pixels, "
                        f"limit {max_pixels})"
                    )
                if max_side:
                    image.draft("RGB", (max_side, max_side))
                image.load()
                image = ImageOps.exif_transpose(image) or image
                if max_side and max(image.size) > max_side:
                    image = _reduced(image, max_side)
                return _to_rgb(image)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{label}: not an image or an unsupported format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(f"{label}: image too large (decompression bomb)") from None
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError, MemoryError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageDecodeError(f"{label}: corrupt or truncated image ({reason})") from None
    finally:
        stream.close()


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """An already opened PIL image → (H, W, 3) RGB uint8, with the same handling as `decode_image`."""
    return _to_rgb(ImageOps.exif_transpose(image) or image)


def to_color_mode(rgb: np.ndarray, color_mode: str) -> np.ndarray:
    """(H, W, 3) RGB uint8 → (H, W, 1) grayscale or unchanged RGB, as the model expects."""
    if color_mode == "grayscale":
        import cv2

        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None]
    return rgb
