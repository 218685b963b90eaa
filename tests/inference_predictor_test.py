"""The EmotionRecognizer: inputs it accepts, what it returns, calibrated probabilities, the default model,
Grad-CAM and annotated images."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from support.inference import (
    FER_CLASSES,
    astronaut,
    chelsea,
    encode,
    group_photo,
    on_astronaut_face,
    write_tiny_model,
)

from ferkit.errors import FerkitError, ModelFileError
from ferkit.inference import EmotionRecognizer, Prediction, annotate, load_classifier
from ferkit.inference.gradcam import GradCam, last_conv_layer
from ferkit.inference.tf_runtimes import BATCH_BUCKETS, KerasClassifier
from ferkit.models.temperature import apply_temperature


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.keras", temperature=2.0)


@pytest.fixture(scope="module")
def recognizer(model_path):
    return EmotionRecognizer.load(model_path)


def test_predict_finds_the_astronaut_and_gives_a_distribution(recognizer):
    faces = recognizer.predict(astronaut())
    assert isinstance(faces, list) and len(faces) == 1
    face = faces[0]
    assert on_astronaut_face(face.box)
    assert list(face.probabilities) == FER_CLASSES
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert face.emotion == max(face.probabilities, key=face.probabilities.get)
    assert face.confidence == face.probabilities[face.emotion]
    assert face.crop.shape == (48, 48, 1)


def test_no_face_is_an_empty_list_not_an_error(recognizer):
    faces = recognizer.predict(chelsea())
    assert faces == [] and faces.to_json(file="cat.png") == {"file": "cat.png", "frame": None, "faces": [],
                                                             "error": None}


def test_json_record_matches_the_documented_schema(recognizer):
    record = json.loads(json.dumps(recognizer.predict(astronaut()).to_json(file="a.jpg")))
    assert set(record) == {"file", "frame", "faces", "error"}
    assert record["file"] == "a.jpg" and record["frame"] is None and record["error"] is None
    (face,) = record["faces"]
    assert set(face) == {"box", "landmarks", "emotion", "confidence", "probabilities"}
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    assert list(face["landmarks"]) == ["right_eye", "left_eye", "nose", "mouth_right", "mouth_left"]
    x, y, w, h = face["box"]
    assert all(x <= px <= x + w and y <= py <= y + h for px, py in face["landmarks"].values())
    assert face["emotion"] in FER_CLASSES and 0 < face["confidence"] <= 1
    assert set(face["probabilities"]) == set(FER_CLASSES)


def test_detectors_without_landmarks_give_null_and_alignment_can_be_turned_off(recognizer):
    haar = EmotionRecognizer(recognizer.classifier, "haar")
    (face,) = haar.predict(astronaut()).to_json()["faces"]
    assert face["landmarks"] is None
    aligned = recognizer.predict(astronaut())[0]
    boxed = EmotionRecognizer(recognizer.classifier, "yunet", align=False).predict(astronaut())[0]
    assert aligned.box == boxed.box and aligned.landmarks == boxed.landmarks
    assert aligned.region != boxed.region and not np.array_equal(aligned.crop, boxed.crop)


def test_every_input_type_gives_the_same_faces(recognizer, tmp_path):
    image = astronaut()
    path = tmp_path / "a.png"
    path.write_bytes(encode(image))
    reference = recognizer.predict(image)
    for given in (str(path), path, path.read_bytes(), Image.open(path),
                  np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])):
        faces = recognizer.predict(given)
        assert [f.box for f in faces] == [f.box for f in reference]
        assert faces[0].probabilities == pytest.approx(reference[0].probabilities, abs=1e-5)
    grey = recognizer.predict(np.asarray(Image.fromarray(image).convert("L")))
    assert len(grey) == 1 and on_astronaut_face(grey[0].box)


def test_unusable_inputs_raise_user_errors(recognizer):
    with pytest.raises(FerkitError, match="cannot read an image from a list"):
        recognizer.predict([1, 2, 3])
    with pytest.raises(FerkitError, match="uint8"):
        recognizer.predict(np.zeros((10, 10, 3), np.float64))
    with pytest.raises(FerkitError, match="not an image"):
        recognizer.predict(b"hello")


def test_predict_many_batches_faces_of_many_images(recognizer, monkeypatch):
    group, expected = group_photo()
    images = [astronaut(), chelsea(), group]
    calls = []
    original = recognizer.classifier.predict_proba
    monkeypatch.setattr(recognizer.classifier, "predict_proba", lambda faces: calls.append(len(faces)) or
                        original(faces))
    results = recognizer.predict_many(images)
    assert calls == [1 + len(expected)]
    assert [len(r) for r in results] == [1, 0, len(expected)]
    assert all(isinstance(r, Prediction) for r in results)
    monkeypatch.undo()
    alone = recognizer.predict(group)
    assert [f.box for f in alone] == [f.box for f in results[2]]
    for a, b in zip(alone, results[2], strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)


def test_keras_classifier_applies_the_temperature_and_pads_batches(model_path):
    classifier = load_classifier(model_path)
    assert isinstance(classifier, KerasClassifier) and classifier.metadata.temperature == 2.0
    faces = np.random.default_rng(0).integers(0, 256, (BATCH_BUCKETS[-1] + 3, 48, 48, 1), dtype=np.uint8)
    raw = classifier.raw_proba(faces)
    direct = classifier.model(faces.astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(raw, direct, atol=1e-5)  # padding and chunking change nothing
    calibrated = classifier.predict_proba(faces)
    expected = np.exp(np.log(direct) / 2.0)
    np.testing.assert_allclose(calibrated, expected / expected.sum(axis=1, keepdims=True), atol=1e-5)
    assert classifier.predict_proba(faces[:0]).shape == (0, len(FER_CLASSES))
    np.testing.assert_allclose(classifier.predict_proba(faces[:5]), calibrated[:5], atol=1e-5)


def test_temperature_one_is_the_identity_and_order_is_kept():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)
    np.testing.assert_array_equal(apply_temperature(p, 1.0), p)
    soft = apply_temperature(p, 3.0)
    assert (soft.argmax(axis=1) == p.argmax(axis=1)).all() and soft.max() < p.max()


def test_load_classifier_rejects_wrong_files_and_runtimes(model_path, tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        load_classifier(tmp_path / "missing.keras")
    with pytest.raises(ModelFileError, match="cannot run with runtime='onnx'"):
        load_classifier(model_path, runtime="onnx")
    with pytest.raises(ModelFileError, match="unknown runtime 'gpu'"):
        load_classifier(model_path, runtime="gpu")
    text = tmp_path / "model.txt"
    text.write_text("x")
    with pytest.raises(ModelFileError, match="not a model file"):
        load_classifier(text)


@pytest.mark.parametrize("architecture", ["lenet", "fervgg"])
def test_gradcam_maps_have_the_face_size_and_lie_in_0_1(architecture, tmp_path):
    path = write_tiny_model(tmp_path / f"{architecture}.keras", architecture=architecture)
    recognizer = EmotionRecognizer.load(path)
    faces = recognizer.explain(recognizer.predict(group_photo()[0]))
    assert len(faces) == 3
    for face in faces:
        assert face.heatmap.shape == (48, 48) and face.heatmap.dtype == np.float32
        assert 0.0 <= face.heatmap.min() and face.heatmap.max() <= 1.0
        assert face.heatmap.max() in (0.0, 1.0)  # scaled to peak at 1 (0 when nothing counted)
    last = last_conv_layer(recognizer.classifier.model)
    assert last.filters == 8 if architecture == "lenet" else last.name == "stage4_conv2"  # lenet: 2 * 2 + 4
    if architecture == "fervgg":  # the network centre-crops 44 of 48 pixels: the border carries no weight
        gradcam = GradCam(recognizer.classifier.model, recognizer.metadata)
        assert gradcam.visible == (44 / 48, 44 / 48)
        maps = gradcam.heatmaps(np.stack([f.crop for f in faces]), [0, 1, 2])
        assert (maps[:, :2] == 0).all() and (maps[:, :, -2:] == 0).all()


def test_annotate_draws_boxes_labels_bars_and_heat_maps(recognizer):
    image = astronaut()
    faces = recognizer.predict(image)
    drawn = annotate(image, faces)
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    assert not np.array_equal(drawn, image)
    np.testing.assert_array_equal(image, astronaut())  # the input is left untouched
    x, y, w, h = faces[0].box
    changed = np.any(drawn != image, axis=2)
    assert changed[y:y + h, x].mean() > 0.8  # the box's left edge
    assert not changed[400:, :100].any()  # far from the face, nothing is drawn
    heat = np.zeros((48, 48), np.float32)
    heat[20:28, 20:28] = 1.0  # hot in the middle of the crop only
    faces[0].heatmap = heat
    with_heatmap = annotate(image, faces)
    x0, y0, x1, y1 = faces[0].region
    centre_x, centre_y = (x0 + x1) // 2, (y0 + y1) // 2
    assert np.abs(with_heatmap[centre_y, centre_x].astype(int) - drawn[centre_y, centre_x]).sum() > 30
    np.testing.assert_array_equal(with_heatmap[y0 + 3, x0 + 3], drawn[y0 + 3, x0 + 3])  # cold: untouched
    assert np.array_equal(annotate(image, []), image)


def test_explain_needs_a_keras_model(recognizer):
    exported = EmotionRecognizer(SimpleNamespace(metadata=recognizer.metadata,  # what ONNX/LiteRT runtimes offer
                                                 predict_proba=recognizer.classifier.predict_proba), "haar")
    assert recognizer.can_explain and not exported.can_explain
    faces = exported.predict(astronaut())
    assert len(faces) == 1 and on_astronaut_face(faces[0].box)
    with pytest.raises(FerkitError, match=r"explain\(\) needs a Keras model file"):
        exported.explain(faces)


def test_annotations_never_cover_a_neighbouring_face(recognizer):
    import cv2
    from support.inference import group_photo

    image, _ = group_photo(scales=(1.0, 0.8, 0.6, 0.45), size=(300, 640))  # faces side by side, little room
    faces = recognizer.predict(image)
    assert len(faces) == 4
    drawn = annotate(image, faces)
    changed = np.any(drawn != image, axis=2)
    for face in faces:
        x, y, w, h = face.box
        dots = np.zeros_like(changed)
        for px, py in face.landmarks.values():
            assert tuple(drawn[round(py), round(px)]) == (0, 255, 255)  # a landmark dot
            cv2.circle(dots.view(np.uint8), (round(px), round(py)), max(2, round(max(w, h) / 60)) + 3, 1, -1)
        inner = (changed & ~dots)[y + 6:y + h - 6, x + 6:x + w - 6]  # inside the box, away from its outline
        assert inner.sum() == 0, "only the face's own landmark dots may be drawn over it"


def test_an_aligned_faces_heat_map_is_drawn_where_the_model_looked():
    import cv2

    from ferkit.inference.predictor import Face

    image = np.full((200, 200, 3), 128, np.uint8)
    # The crop is the 96×96 square around (100, 100) rotated by 45 degrees, shrunk to 48×48.
    to_crop = cv2.getRotationMatrix2D((100, 100), 45, 0.5)
    to_crop[:, 2] += (24 - 100, 24 - 100)
    heat = np.zeros((48, 48), np.float32)
    heat[2:10, 20:28] = 1.0  # hot at the middle of the crop's top edge
    face = Face(box=[60, 60, 80, 80], emotion="happy", confidence=0.9, probabilities={"happy": 0.9, "sad": 0.1},
                region=(32, 32, 168, 168), crop=np.zeros((48, 48, 1), np.uint8), transform=to_crop, heatmap=heat)
    plain = annotate(image, [Face(**{**face.__dict__, "heatmap": None})])
    drawn = annotate(image, [face])
    hot_x, hot_y = cv2.invertAffineTransform(to_crop) @ np.array([24.0, 6.0, 1.0])
    changed = np.any(drawn != plain, axis=2)
    assert changed[round(hot_y), round(hot_x)]
    ys, xs = np.nonzero(changed)
    assert np.hypot(xs.mean() - hot_x, ys.mean() - hot_y) < 6  # not at the region's top edge centre (100, 32)
