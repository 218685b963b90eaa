"""Face detection and framing: boxes land on real faces, small and several faces are found, crops match the
training framing."""

import numpy as np
import pytest
from support.inference import astronaut, chelsea, group_photo, on_astronaut_face

from ferkit.errors import FerkitError
from ferkit.faces.boxes import FaceBox, detection_scale
from ferkit.faces.detectors import DetectorError, HaarDetector, make_detector, shared_detector
from ferkit.faces.framing import (
    CALIBRATED_FRAMING,
    Framing,
    as_rgb,
    crop_largest_face,
    crop_region,
    cut,
    frame_face,
    framing_for,
)
from ferkit.models.saving import ModelMetadata

METADATA = ModelMetadata(class_names=["a", "b"], image_size=(48, 48), color_mode="grayscale")


@pytest.fixture(scope="module")
def haar():
    return HaarDetector(min_face=40)


def test_haar_box_lands_on_the_astronauts_face(haar):
    boxes = haar.detect(astronaut())
    assert len(boxes) == 1
    assert on_astronaut_face(boxes[0].as_list()), boxes


def test_the_cat_has_no_human_face(haar):
    assert haar.detect(chelsea()) == []


def test_several_faces_down_to_about_40_pixels_are_found_largest_first(haar):
    image, expected = group_photo()
    boxes = haar.detect(image)
    assert len(boxes) == len(expected)
    assert [box.area for box in boxes] == sorted((box.area for box in boxes), reverse=True)
    for box, (centre_x, centre_y, side) in zip(boxes, expected, strict=True):
        assert abs(box.x + box.w / 2 - centre_x) < 0.25 * side
        assert abs(box.y + box.h / 2 - centre_y) < 0.25 * side
        assert 0.8 * side <= box.w <= 1.25 * side
    assert min(box.w for box in boxes) < 50


def test_boxes_are_in_original_pixels_whatever_the_detection_scale(haar):
    image = astronaut()
    big = np.repeat(np.repeat(image, 3, axis=0), 3, axis=1)  # 1536 px: detected on a shrunk copy
    assert detection_scale(big.shape, 40, 24) <= 0.6
    largest = haar.detect(big)[0]
    assert on_astronaut_face([v / 3 for v in largest.as_list()]), largest


def test_small_images_are_enlarged_for_detection():
    assert detection_scale((48, 48, 3), 40, 24) * 48 >= 160
    assert detection_scale((4000, 3000, 3), 40, 24) * 4000 <= 1280


def test_none_detector_returns_the_whole_image():
    assert make_detector("none").detect(np.zeros((30, 50, 3), np.uint8)) == [FaceBox(0, 0, 50, 30)]


def test_unknown_detector_is_a_user_error():
    with pytest.raises(DetectorError, match="unknown detector 'yolo'"):
        make_detector("yolo")


def test_mtcnn_finds_the_astronaut_with_a_confidence():
    boxes = shared_detector("mtcnn").detect(astronaut())
    assert len(boxes) == 1 and boxes[0].score > 0.9
    assert on_astronaut_face(boxes[0].as_list()), boxes
    right_eye, left_eye, nose, mouth_right, mouth_left = boxes[0].landmarks  # the subject's right: image left
    assert right_eye[0] < nose[0] < left_eye[0] and mouth_right[0] < mouth_left[0]
    assert shared_detector("mtcnn").detect(chelsea()) == []


def test_crop_region_is_a_square_with_the_margin_around_the_box_centre():
    region = crop_region(FaceBox(100, 50, 80, 100), Framing(margin=0.25, shift=0.1))
    x0, y0, x1, y1 = region
    assert x1 - x0 == y1 - y0 == 150  # longer side 100, plus 25 % on each side
    assert (x0 + x1) / 2 == 140 and (y0 + y1) / 2 == 110  # box centre (140, 100) moved down 0.1 * 100


def test_cut_pads_outside_the_image_by_repeating_edge_pixels():
    image = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    patch = cut(image, (-2, -1, 4, 3))
    assert patch.shape == (4, 6, 3)
    np.testing.assert_array_equal(patch[1:, 2:], image[:3, :4])
    np.testing.assert_array_equal(patch[0], patch[1])  # top row repeated
    np.testing.assert_array_equal(patch[:, 0], patch[:, 2])  # left column repeated


def test_frame_face_gives_the_models_size_and_colour_mode():
    image = astronaut()
    box = FaceBox(177, 66, 95, 95)
    grey = frame_face(image, box, METADATA, CALIBRATED_FRAMING["haar"])
    assert grey.shape == (48, 48, 1) and grey.dtype == np.uint8
    rgb_metadata = ModelMetadata(class_names=["a", "b"], image_size=(40, 32), color_mode="rgb")
    assert frame_face(image, box, rgb_metadata, CALIBRATED_FRAMING["haar"]).shape == (40, 32, 3)
    corner = frame_face(image, FaceBox(0, 0, 60, 60), METADATA, Framing(margin=0.5))
    assert corner.shape == (48, 48, 1)


def test_whole_image_framing_resizes_without_cropping():
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, 20:] = 255
    face = frame_face(image, FaceBox(0, 0, 40, 20), METADATA, framing_for("none"))
    assert face.shape == (48, 48, 1)
    assert face[:, :20].max() == 0 and face[:, 28:].min() == 255


def test_a_models_own_face_margin_overrides_the_calibrated_one():
    assert framing_for("haar", METADATA) == CALIBRATED_FRAMING["haar"]
    custom = ModelMetadata(class_names=["a", "b"], image_size=(48, 48), face_margin=0.3)
    assert framing_for("haar", custom).margin == 0.3
    assert framing_for("haar", custom).shift == CALIBRATED_FRAMING["haar"].shift
    assert framing_for("none", custom) == CALIBRATED_FRAMING["none"]


def test_as_rgb_accepts_grey_rgb_and_rgba_uint8_only():
    assert as_rgb(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert as_rgb(np.zeros((4, 5, 1), np.uint8)).shape == (4, 5, 3)
    assert as_rgb(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    with pytest.raises(FerkitError, match="uint8"):
        as_rgb(np.zeros((4, 5, 3), np.float32))
    with pytest.raises(FerkitError, match=r"\(4, 5, 2\)"):
        as_rgb(np.zeros((4, 5, 2), np.uint8))


def test_crop_largest_face_for_evaluation():
    image, _ = group_photo()
    crop = crop_largest_face(image, "haar", METADATA)
    assert crop.shape == (48, 48, 1)
    assert crop_largest_face(chelsea(), "haar", METADATA) is None
    whole = crop_largest_face(np.full((48, 48, 3), 7, np.uint8), "none", METADATA)
    assert whole.shape == (48, 48, 1) and whole.max() == 7
