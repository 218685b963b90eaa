"""YuNet, the default detector: faces of every size with five landmarks, tight crops, rolled faces, crowds,
degenerate images, a damaged model file, several threads; and alignment of the found faces."""

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from support.inference import (
    ASTRONAUT_FACE_CENTRE,
    HEAD,
    astronaut,
    chelsea,
    group_photo,
    on_astronaut_face,
    rolled_head,
)

from ferkit.faces import LANDMARK_NAMES, make_detector
from ferkit.faces import yunet as yunet_module
from ferkit.faces.alignment import FER2013_TEMPLATE, aligned_crop, alignment_matrix, roll_degrees
from ferkit.faces.framing import CALIBRATED_FRAMING, model_input
from ferkit.faces.second_look import VIEW_SIDE, closer_look, mapped_back, view_matrix
from ferkit.faces.yunet import DetectorModelError, YuNetDetector
from ferkit.models.saving import ModelMetadata

METADATA = ModelMetadata(class_names=["a", "b"], image_size=(48, 48), color_mode="grayscale")


@pytest.fixture(scope="module")
def yunet():
    return YuNetDetector()


def rolled(image: np.ndarray, degrees: float) -> np.ndarray:
    """The image rotated by `degrees` (counter-clockwise) about the astronaut's face centre."""
    matrix = cv2.getRotationMatrix2D(ASTRONAUT_FACE_CENTRE, degrees, 1.0)
    return cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)


def crowd(count: int = 50, side: int = 64) -> np.ndarray:
    """`count` copies of the astronaut's head in a grid, each about `side` pixels tall."""
    head = cv2.resize(astronaut()[HEAD], (round(side * 190 / 200), side), interpolation=cv2.INTER_AREA)
    columns = 10
    rows = -(-count // columns)
    canvas = np.full((rows * (side + 8), columns * (head.shape[1] + 8), 3), 120, np.uint8)
    for index in range(count):
        row, column = divmod(index, columns)
        y, x = row * (side + 8), column * (head.shape[1] + 8)
        canvas[y:y + side, x:x + head.shape[1]] = head
    return canvas


def test_the_astronauts_face_with_five_landmarks_in_place(yunet):
    boxes = yunet.detect(astronaut())
    assert len(boxes) == 1
    box = boxes[0]
    assert on_astronaut_face(box.as_list()) and box.score > 0.8
    points = dict(zip(LANDMARK_NAMES, box.landmarks, strict=True))
    # The subject's right eye is on the image's left; eyes above nose above mouth; all inside the box.
    assert points["right_eye"][0] < points["nose"][0] < points["left_eye"][0]
    assert points["mouth_right"][0] < points["mouth_left"][0]
    assert max(points["right_eye"][1], points["left_eye"][1]) < points["nose"][1] < points["mouth_left"][1]
    for x, y in box.landmarks:
        assert box.x <= x <= box.x + box.w and box.y <= y <= box.y + box.h


def test_no_human_face_in_the_cat(yunet):
    assert yunet.detect(chelsea()) == []


def test_group_photo_faces_largest_first(yunet):
    image, expected = group_photo(scales=(1.0, 0.7, 0.45, 0.35))
    boxes = yunet.detect(image)
    assert len(boxes) == len(expected)
    for box, (centre_x, centre_y, side) in zip(boxes, expected, strict=True):
        assert abs(box.x + box.w / 2 - centre_x) < 0.3 * side
        assert abs(box.y + box.h / 2 - centre_y) < 0.3 * side


def test_six_faces_of_40_to_110_pixels_two_rolled_by_25_degrees_are_all_found(yunet):
    canvas = np.full((480, 1000, 3), 120, np.uint8)
    x, centres = 10, []
    for side, roll in [(110, 0), (95, 25), (80, 0), (65, -25), (50, 0), (40, 0)]:
        small = rolled_head(side, roll)
        y = (480 - small.shape[0]) // 2
        canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
        centres.append(x + small.shape[1] / 2)
        x += small.shape[1] + 5
    boxes = yunet.detect(canvas)
    assert len(boxes) == 6 and all(box.landmarks is not None for box in boxes)
    found = sorted(box.x + box.w / 2 for box in boxes)
    assert all(abs(a - b) < 30 for a, b in zip(found, centres, strict=True))


def test_fifty_faces_are_all_found(yunet):
    assert len(yunet.detect(crowd(50))) == 50


def test_min_face_trades_small_faces_for_speed():
    image, expected = group_photo(scales=(1.0, 0.35))  # faces of about 95 and 33 px
    assert len(YuNetDetector(min_face=32).detect(image)) == 2
    assert len(YuNetDetector(min_face=80).detect(image)) == 1


@pytest.mark.parametrize("degrees", [-30, 30])
def test_rolled_faces_are_found_and_their_roll_has_the_right_sign(yunet, degrees):
    boxes = yunet.detect(rolled(astronaut(), degrees))
    assert len(boxes) == 1 and on_astronaut_face(boxes[0].as_list())
    # Rotating the image counter-clockwise lowers the subject's right eye (image left): the eye line turns by
    # -degrees. YuNet's landmarks follow only part of a roll (about 5 of 30 degrees), so only the direction
    # relative to the upright face is checked.
    upright = roll_degrees(yunet.detect(astronaut())[0].landmarks)
    assert np.sign(roll_degrees(boxes[0].landmarks) - upright) == -np.sign(degrees)


def test_a_face_the_first_pass_is_unsure_of_is_confirmed_by_a_closer_look(yunet):
    # A 40-px face rolled by 40 degrees: YuNet's first pass scores it below 0.6; a turned, enlarged view is sure.
    head = rolled_head(40, 40)
    canvas = np.full((480, 640, 3), 120, np.uint8)
    canvas[200:200 + head.shape[0], 300:300 + head.shape[1]] = head
    centre = (300 + head.shape[1] / 2, 200 + head.shape[0] / 2)
    assert YuNetDetector(second_look=False).detect(canvas) == []
    boxes = yunet.detect(canvas)
    assert len(boxes) == 1 and boxes[0].score >= 0.9
    box = boxes[0]
    assert np.hypot(box.x + box.w / 2 - centre[0], box.y + box.h / 2 - centre[1]) < 15
    # Landmarks from the turned view follow the roll (the first pass's follow about 5 of 30 degrees).
    assert roll_degrees(box.landmarks) < -20


def test_a_closer_look_maps_its_view_back_to_the_image():
    row = np.array([100, 50, 40, 48, *[110, 60, 130, 62, 120, 72, 112, 85, 128, 86], 0.4], np.float32)
    matrix = view_matrix(row, 25.0)
    landmarks = np.hstack([row[4:14].reshape(5, 2), np.ones((5, 1))]) @ matrix.T
    in_view = np.concatenate([[44, 40, 40, 48], landmarks.ravel(), [0.95]]).astype(np.float32)
    back = mapped_back(in_view, matrix)
    np.testing.assert_allclose(back[4:14], row[4:14], atol=1e-3)
    # The candidate fills half the view; its centre lands on the view's centre.
    assert np.allclose(matrix @ (120, 74, 1), (VIEW_SIDE / 2, VIEW_SIDE / 2))
    assert back[14] == pytest.approx(0.95)


def test_only_views_with_something_face_like_are_turned():
    row = np.array([30, 30, 40, 40, *[0] * 10, 0.3], np.float32)
    image = np.zeros((100, 100, 3), np.uint8)
    views = []

    def detect_view(score):
        def run(view):
            views.append(view.shape)
            centred = [VIEW_SIDE / 2 - 20, VIEW_SIDE / 2 - 20, 40, 40, *[VIEW_SIDE / 2] * 10, score]
            return np.array([centred] if score else [], np.float32).reshape(-1, 15)
        return run

    assert closer_look(detect_view(0.0), image, row) is None and len(views) == 1  # nothing: upright only
    views.clear()
    assert closer_look(detect_view(0.5), image, row) is None and len(views) == 3  # weak: turned both ways
    views.clear()
    assert closer_look(detect_view(0.85), image, row) is not None and len(views) == 1  # sure upright


def test_face_free_photos_stay_face_free_with_the_closer_look(yunet):
    from skimage import data

    for image in (data.coffee(), data.rocket(), data.stereo_motorcycle()[0]):
        assert yunet.detect(cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA)) == []


def test_a_tight_crop_is_found_without_the_none_detector(yunet):
    tight = astronaut()[60:185, 170:285]  # the face filling the image, as in SFEW or CK+
    boxes = yunet.detect(tight)
    assert len(boxes) == 1 and boxes[0].area > 0.4 * tight.shape[0] * tight.shape[1]


def test_a_small_face_shaped_image_with_no_detection_can_be_taken_whole():
    blank = np.full((181, 143, 3), 128, np.uint8)
    assert YuNetDetector().detect(blank) == []
    fallback = YuNetDetector(whole_image_fallback=True)
    assert [box.as_list() for box in fallback.detect(blank)] == [[0, 0, 143, 181]]
    assert fallback.detect(np.full((480, 640, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 500, 3), (2, 2, 3), (500, 3, 3), (20, 5000, 3)])
def test_degenerate_images_have_no_face(yunet, shape):
    for _ in range(3):  # YuNet once answered a 3×500 sliver with non-finite boxes
        assert yunet.detect(np.zeros(shape, np.uint8)) == []
        assert yunet.detect(np.full(shape, 255, np.uint8)) == []


@pytest.mark.slow
def test_a_huge_image_is_searched_on_a_shrunk_copy(yunet):
    huge = np.full((10_000, 10_000, 3), 120, np.uint8)
    face = cv2.resize(astronaut(), (2000, 2000))
    huge[4000:6000, 4000:6000] = face
    boxes = yunet.detect(huge)
    assert len(boxes) == 1
    assert on_astronaut_face([(v - 4000 * (i < 2)) / (2000 / 512) for i, v in enumerate(boxes[0].as_list())])


def test_threads_share_one_detector(yunet):
    images = [astronaut(), chelsea(), group_photo()[0]] * 4
    expected = [len(yunet.detect(image)) for image in images]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda image: len(yunet.detect(image)), images)) == expected


def test_a_damaged_model_file_is_a_one_line_error(tmp_path, monkeypatch):
    damaged = tmp_path / "face_detection_yunet_2023mar.onnx"
    damaged.write_bytes(b"\0" * 100)
    monkeypatch.setattr(yunet_module, "yunet_path", lambda: damaged)
    yunet_module.yunet_model_bytes.cache_clear()
    try:
        with pytest.raises(DetectorModelError, match=r"face_detection_yunet_2023mar\.onnx is damaged"):
            make_detector("yunet")
    finally:
        yunet_module.yunet_model_bytes.cache_clear()


def test_alignment_maps_the_landmarks_onto_the_template():
    template = np.array(FER2013_TEMPLATE) * 48
    # A face twice the template's size, rolled by 20 degrees and shifted: the fit recovers the exact mapping.
    angle = np.radians(20)
    rotation = 2 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = template @ rotation.T + (100, 40)
    matrix = alignment_matrix(landmarks, (48, 48))
    mapped = np.hstack([landmarks, np.ones((5, 1))]) @ matrix.T
    np.testing.assert_allclose(mapped, template, atol=1e-6)
    assert np.hypot(*matrix[:, 0]) == pytest.approx(0.5)


def test_aligned_crops_of_a_rolled_face_match_the_upright_one(yunet):
    upright_landmarks = np.array(yunet.detect(astronaut())[0].landmarks)
    upright = aligned_crop(astronaut(), upright_landmarks, (48, 48)).astype(float)
    for degrees in (-25, 25):
        matrix = cv2.getRotationMatrix2D(ASTRONAUT_FACE_CENTRE, degrees, 1.0)
        image = rolled(astronaut(), degrees)
        landmarks = np.hstack([upright_landmarks, np.ones((5, 1))]) @ matrix.T  # where the points moved to
        aligned = aligned_crop(image, landmarks, (48, 48)).astype(float)
        box = yunet.detect(image)[0]
        unaligned = cv2.resize(image[box.y:box.y + box.h, box.x:box.x + box.w], (48, 48)).astype(float)
        # Alignment undoes the roll: the aligned crop is far closer to the upright face than the box crop.
        assert np.abs(aligned - upright).mean() < 0.5 * np.abs(unaligned - upright).mean()


def test_model_input_aligns_faces_with_landmarks_and_frames_the_others(yunet):
    box = yunet.detect(astronaut())[0]
    crop, region, transform = model_input(astronaut(), box, METADATA, CALIBRATED_FRAMING["yunet"], align=True)
    assert crop.shape == (48, 48, 1)
    x0, y0, x1, y1 = region
    assert x0 < box.x + box.w / 2 < x1 and y0 < box.y + box.h / 2 < y1
    # The transform takes the landmarks onto the template in crop pixels.
    mapped = np.hstack([np.array(box.landmarks), np.ones((5, 1))]) @ transform.T
    assert np.abs(mapped - np.array(FER2013_TEMPLATE) * 48).max() < 3
    framed, framed_region, none = model_input(astronaut(), box, METADATA, CALIBRATED_FRAMING["yunet"], align=False)
    assert framed.shape == (48, 48, 1) and framed_region != region and none is None
