"""Framing: cut each detected face the way the model's training faces were cut — by its landmarks when the
detector gives them (`model_input` aligns them, see `ferkit.faces.alignment`), else by its box.

A model trained on FER-2013 has only seen faces framed like FER-2013's (48×48, the face filling most of the
frame). A detector's box is not that frame: each detector draws its box at its own place around the face. A
`Framing` maps a box to the training frame: a square around the box centre (shifted vertically by `shift`
box heights), `margin` box sides wider on each side, clipped at the image border and padded there by
repeating the edge pixels, then resized to the model's `image_size` and converted to its colour mode.

The constants below were measured with `bench/face_framing.py`: it enlarges FER-2013 training images
(a 25 % grey border around each, so boxes larger than the frame can still be found), runs each detector
exactly as prediction runs it, and reads off where the box lies in the frame. With the box's median size s
(as a fraction of the frame side) and the frame centre's median offset d from the box centre (in box heights),
margin = (1 / s - 1) / 2 and shift = d. Re-run that script after changing a detector's settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ferkit.data.images import to_color_mode
from ferkit.errors import FerkitError
from ferkit.faces.alignment import aligned_crop, alignment_matrix, crop_corners
from ferkit.faces.boxes import FaceBox
from ferkit.faces.detectors import MIN_FACE, shared_detector


@dataclass(frozen=True)
class Framing:
    """How a detector box becomes a model input.

    Args:
        margin: fraction of the box's longer side added on each side (negative: cut inside the box).
        shift: vertical offset of the crop centre from the box centre, in box heights (positive = down).
        square: cut a square (True) or exactly the box, resized as it is (False: for `none`, whole images
            are resized like the training loader resizes them).
    """

    margin: float
    shift: float = 0.0
    square: bool = True


# Measured with `bench/face_framing.py --n 400` (399 FER-2013 training images; see the module docstring):
# Haar found 290 faces, box side median 0.964 of the frame (quartiles 0.892-1.023), centre offset median 0.0;
# MTCNN found 339, box 0.802 wide x 1.052 tall (longer side quartiles 0.961-1.156), centre offset median 0.0.
# So FER-2013's frame is about the Haar box itself, and a little tighter than MTCNN's taller box.
# Checked with `--model` (a fervgg checkpoint at 65.6 % on 445 PublicTest frames with a Haar face): Haar crops
# at margin 0 / 0.019 / 0.05 give 64.3 / 63.6 / 64.3 %, but 61.6 % at 0.1, 54.6 % at 0.2 and 47.4 % at 0.3.
# YuNet (`--n 2000`, 2026-12-04) found 1,910 of 1,999: box 0.823 wide x 1.052 tall (longer side quartiles
# 0.927-1.245), centre offset median -0.015 box heights; its landmarks give the alignment template.
CALIBRATED_FRAMING = {
    "yunet": Framing(margin=-0.025, shift=-0.015),
    "haar": Framing(margin=0.019, shift=0.0),
    "mtcnn": Framing(margin=-0.025, shift=0.0),
    "none": Framing(margin=0.0, shift=0.0, square=False),
}


def framing_for(detector: str, metadata=None) -> Framing:
    """The detector's calibrated framing; a model's own `face_margin` (when its metadata sets one) wins."""
    framing = CALIBRATED_FRAMING[detector]
    margin = getattr(metadata, "face_margin", None)
    if margin is None or not framing.square:
        return framing
    return Framing(margin=float(margin), shift=framing.shift, square=True)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A uint8 (H, W, 3) RGB view of an RGB, RGBA (alpha dropped) or grayscale ((H, W) or (H, W, 1)) array."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise FerkitError(f"image arrays must be uint8 (0..255), got {array.dtype}")
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if array.ndim == 3 and array.shape[2] == 1:
        return cv2.cvtColor(array[..., 0], cv2.COLOR_GRAY2RGB)
    if array.ndim == 3 and array.shape[2] == 3:
        return array
    if array.ndim == 3 and array.shape[2] == 4:
        return np.ascontiguousarray(array[..., :3])
    raise FerkitError(f"image arrays must be (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, "
                      f"got {array.shape}")


def crop_region(box: FaceBox, framing: Framing) -> tuple[int, int, int, int]:
    """The region `(x0, y0, x1, y1)` to cut for `box`; it may reach outside the image."""
    if not framing.square:
        return box.x, box.y, box.x + box.w, box.y + box.h
    side = max(box.w, box.h) * (1 + 2 * framing.margin)
    centre_x = box.x + box.w / 2
    centre_y = box.y + box.h / 2 + framing.shift * box.h
    x0, y0 = round(centre_x - side / 2), round(centre_y - side / 2)
    length = max(1, round(side))
    return x0, y0, x0 + length, y0 + length


def cut(rgb: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """`rgb[y0:y1, x0:x1]`, with the parts outside the image filled by repeating its edge pixels."""
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = region
    inside = rgb[max(0, y0):min(height, y1), max(0, x0):min(width, x1)]
    top, bottom = max(0, -y0), max(0, y1 - height)
    left, right = max(0, -x0), max(0, x1 - width)
    if top or bottom or left or right:
        inside = cv2.copyMakeBorder(inside, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return inside


def frame_face(rgb: np.ndarray, box: FaceBox, metadata, framing: Framing) -> np.ndarray:
    """The model input for one face: (H, W, C) uint8 at `metadata.image_size` in `metadata.color_mode`."""
    height, width = metadata.image_size
    patch = cut(rgb, crop_region(box, framing))
    shrinking = patch.shape[0] > height or patch.shape[1] > width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(patch, (width, height), interpolation=interpolation)
    return to_color_mode(resized, metadata.color_mode)


def model_input(rgb: np.ndarray, box: FaceBox, metadata, framing: Framing, align: bool = True
                ) -> tuple[np.ndarray, tuple[int, int, int, int], np.ndarray | None]:
    """One face as the model's input, the image region `(x0, y0, x1, y1)` it covers, and for an aligned face
    the 2×3 similarity transform from image pixels to input pixels (None for a box crop).

    With `align` and landmarks, the face is warped upright onto the training faces' landmark template (see
    `ferkit.faces.alignment`); the region is then the axis-aligned bound of the rotated crop. Otherwise the
    detector box is framed with `framing`.
    """
    if align and box.landmarks is not None and framing.square:
        size = tuple(metadata.image_size)
        crop = aligned_crop(rgb, box.landmarks, size)
        corners = crop_corners(box.landmarks, size)
        x0, y0 = np.floor(corners.min(0)).astype(int)
        x1, y1 = np.ceil(corners.max(0)).astype(int)
        region = (int(x0), int(y0), int(x1), int(y1))
        return to_color_mode(crop, metadata.color_mode), region, alignment_matrix(box.landmarks, size)
    return frame_face(rgb, box, metadata, framing), crop_region(box, framing), None


def crop_largest_face(image: np.ndarray, detector: str, metadata, min_face: int = MIN_FACE,
                      align: bool = True) -> np.ndarray | None:
    """The largest face of `image` as the model's input (see `model_input`), or None if there is none.

    Args:
        image: (H, W, 3) RGB or (H, W)/(H, W, 1) grayscale uint8.
        detector: a detector name (`yunet`, `haar`, `mtcnn`, `none`).
        metadata: the model's `ModelMetadata` (image size, colour mode, face margin).
        min_face: smallest face side, in pixels, to look for.
        align: warp faces with landmarks upright onto the training template.
    """
    rgb = as_rgb(image)
    detector_object = shared_detector(detector, min_face)
    boxes = detector_object.detect(rgb)
    if not boxes:
        return None
    return model_input(rgb, boxes[0], metadata, framing_for(detector_object.name, metadata), align)[0]
