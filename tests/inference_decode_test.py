"""Awkward inputs on the way into prediction: each kind is read correctly or refused with a reason, and fuzzed
bytes never raise anything but `ImageDecodeError`."""

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from support.inference import astronaut, awkward_files, encode, on_astronaut_face

from ferkit.data.images import ImageDecodeError, decode_image
from ferkit.faces.detectors import HaarDetector
from ferkit.inference.predictor import load_image

SEEDS = {
    "png": encode(np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8), "PNG"),
    "jpeg": encode(np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8), "JPEG"),
    "gif": encode(Image.fromarray(np.random.default_rng(2).integers(0, 256, (6, 6), dtype=np.uint8)), "GIF"),
    "bmp": encode(np.zeros((5, 4, 3), np.uint8), "BMP"),
    "tiff": encode(np.zeros((5, 4), np.uint16), "TIFF"),
    "webp": encode(np.zeros((5, 4, 3), np.uint8), "WEBP"),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return awkward_files(tmp_path_factory.mktemp("awkward"))


@pytest.fixture(scope="module")
def haar():
    return HaarDetector()


@pytest.mark.parametrize("name", ["photo.jpg", "sixteen_bit.png", "palette.png", "rgba.png",
                                  "exif_rotated.jpg", "grey.webp"])
def test_readable_kinds_give_the_upright_image_and_its_face(files, haar, name):
    path, _ = files[name]
    rgb = decode_image(path)
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8
    boxes = haar.detect(rgb)
    assert len(boxes) == 1 and on_astronaut_face(boxes[0].as_list()), boxes


def test_sixteen_bit_values_are_scaled_not_clipped(files):
    rgb = decode_image(files["sixteen_bit.png"][0])
    grey = np.asarray(Image.fromarray(astronaut()).convert("L"))
    assert np.abs(rgb[..., 0].astype(int) - grey).max() <= 2


def test_transparent_pixels_become_white(files):
    rgb = decode_image(files["rgba.png"][0])
    assert (rgb[:40, :40] == 255).all()


@pytest.mark.parametrize("name", ["not_an_image.jpg", "truncated.jpg", "empty.png", "drawing.svg",
                                  "bomb.png"])
def test_unreadable_kinds_are_refused_with_a_reason(files, name):
    path, reason = files[name]
    with pytest.raises(ImageDecodeError, match=reason) as error:
        decode_image(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_pixel_limit_is_checked_before_decoding():
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_image(encode(astronaut(), "PNG"), max_pixels=512 * 511)


def test_a_pil_image_gets_the_same_handling_as_a_file(files):
    with Image.open(files["exif_rotated.jpg"][0]) as image:
        np.testing.assert_array_equal(load_image(image), decode_image(files["exif_rotated.jpg"][0]))


def _check_decodes_or_refuses(data: bytes, haar) -> None:
    try:
        rgb = decode_image(data, name="fuzz")
    except ImageDecodeError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
    haar.detect(rgb)  # whatever came out, detection copes with it


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corrupt metadata it skips
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=512))
def test_fuzz_random_bytes(data, haar):
    _check_decodes_or_refuses(data, haar)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(SEEDS)), edits=st.lists(
    st.tuples(st.integers(min_value=0, max_value=4096), st.integers(min_value=0, max_value=255)), max_size=8),
    cut=st.integers(min_value=0, max_value=4096))
def test_fuzz_mutated_image_files(kind, edits, cut, haar):
    data = bytearray(SEEDS[kind])
    for position, value in edits:
        data[position % len(data)] = value
    _check_decodes_or_refuses(bytes(data[:max(1, len(data) - cut % len(data))]), haar)


def test_fuzz_seed_files_are_valid():
    for data in SEEDS.values():
        assert decode_image(data).ndim == 3
    with Image.open(io.BytesIO(SEEDS["tiff"])) as image:
        assert image.mode.startswith("I;16")
