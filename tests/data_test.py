import numpy as np
import pytest

from ferkit.data import FER2013_CLASSES, load_data
from ferkit.data.pipeline import make_dataset, targets_for
from ferkit.data.synthetic import SYNTHETIC_CLASSES, make_faces
from ferkit.errors import DataError


def test_synthetic_faces_are_deterministic_and_balanced():
    images, labels = make_faces(5, size=32, seed=7)
    again, _ = make_faces(5, size=32, seed=7)
    assert images.shape == (20, 32, 32, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, again)
    assert np.bincount(labels).tolist() == [5, 5, 5, 5]


def test_class_folder_layout_gets_a_stratified_deterministic_split(faces_folder):
    data = load_data(faces_folder, image_size=(40, 40), validation_split=0.25, seed=1)
    assert data.class_names == sorted(SYNTHETIC_CLASSES)
    assert data.images.shape == (240, 40, 40, 1) and not data.own_split
    train, val = data.split_indices("train"), data.split_indices("validation")
    assert len(val) == 60 and not set(train) & set(val)
    assert np.bincount(data.labels[val]).tolist() == [15, 15, 15, 15]
    again = load_data(faces_folder, image_size=(40, 40), validation_split=0.25, seed=1)
    np.testing.assert_array_equal(again.split_indices("validation"), val)


def test_split_folder_layout_uses_its_own_splits(split_faces_folder):
    data = load_data(split_faces_folder, image_size=(32, 32), color_mode="rgb")
    assert data.own_split and data.images.shape[-1] == 3
    assert data.roles == {"train": "train", "validation": "val", "test": "test"}
    assert len(data.split_indices("train")) == 96 and len(data.split_indices("test")) == 32
    assert np.array_equal(data.split_indices("val"), data.split_indices("validation"))
    with pytest.raises(DataError, match="no split named 'holdout'"):
        data.split_indices("holdout")


def test_fer_npz_layout(fer_npz):
    data = load_data(fer_npz)
    assert data.class_names == FER2013_CLASSES
    assert {k: len(v) for k, v in data.splits.items()} == {"Training": 80, "PublicTest": 20, "PrivateTest": 20}
    assert data.roles["test"] == "PrivateTest"
    assert data.soft_labels.shape == (120, 7)
    np.testing.assert_allclose(data.soft_labels.sum(axis=1), 1.0, rtol=1e-6)


def _npz_with(tmp_path, source, **changes):
    arrays = dict(np.load(source))
    arrays.update(changes)
    path = tmp_path / "changed.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize(("change", "expected"), [
    (lambda a: {"labels": a["labels"][:3]}, "array 'labels' has shape (3,) but 'images' has 120 rows"),
    (lambda a: {"usage": a["usage"][:-1]}, "array 'usage' has shape (119,) but 'images' has 120 rows"),
    (lambda a: {"ferplus_votes": a["ferplus_votes"][:5]}, "array 'ferplus_votes' has shape (5, 10)"),
    (lambda a: {"ferplus_votes": a["ferplus_votes"][:, :4]}, "array 'ferplus_votes' has 4 columns, expected 10"),
    (lambda a: {"labels": np.where(np.arange(120) == 7, -1, a["labels"])},
     "array 'labels' holds 1 values outside 0..6 (e.g. -1)"),
    (lambda a: {"labels": np.full(120, 7)}, "array 'labels' holds 120 values outside 0..6 (e.g. 7)"),
    (lambda a: {"labels": np.full(120, 99)}, "(e.g. 99)"),
    (lambda a: {"labels": a["labels"].astype(np.float32)}, "array 'labels' has shape (120,) and dtype float32"),
    (lambda a: {"images": a["images"][:, :, :, None, None]}, "array 'images' has shape (120, 48, 48, 1, 1)"),
    (lambda a: {"images": a["images"] * 2.0}, "array 'images' holds values outside 0..255"),
    (lambda a: {"labels": None}, "npz has no array 'labels'"),
], ids=["labels-rows", "usage-rows", "votes-rows", "votes-columns", "label-minus-1", "label-7", "label-99",
        "float-labels", "images-5d", "images-range", "no-labels"])
def test_an_inconsistent_npz_is_one_line_naming_the_array(tmp_path, fer_npz, change, expected):
    path = _npz_with(tmp_path, fer_npz, **change(np.load(fer_npz)))
    with pytest.raises(DataError) as error:
        load_data(path)
    assert str(error.value).startswith(f"{path}: ") and expected in str(error.value), str(error.value)
    assert "\n" not in str(error.value)


def test_a_damaged_npz_is_one_line(tmp_path, fer_npz):
    path = tmp_path / "cut.npz"
    path.write_bytes(fer_npz.read_bytes()[:2000])
    with pytest.raises(DataError, match=f"{path}: cannot read npz"):
        load_data(path)


def test_fer_csv_layout_with_a_bad_row_skipped(tmp_path, fer_npz):
    raw = np.load(fer_npz)
    lines = ["emotion,pixels,Usage"]
    for image, label, usage in zip(raw["images"][:12], raw["labels"][:12], ["Training"] * 8 + ["PublicTest"] * 4,
                                   strict=True):
        lines.append(f"{label},{' '.join(map(str, image.ravel()))},{usage}")
    lines.append("3,1 2 3,Training")
    path = tmp_path / "fer2013.csv"
    path.write_text("\n".join(lines) + "\n")
    data = load_data(path)
    assert len(data.labels) == 12 and len(data.skipped) == 1 and "fer2013.csv:14" in data.skipped[0][0]
    np.testing.assert_array_equal(data.images[..., 0], raw["images"][:12])
    np.testing.assert_array_equal(data.labels, raw["labels"][:12])
    assert len(data.split_indices("train")) == 8 and len(data.split_indices("validation")) == 4


def test_corrupt_image_is_skipped_and_reported(tmp_path, faces_folder):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(faces_folder, root)
    (root / "happy" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (root / "sad" / "empty.jpg").write_bytes(b"")
    data = load_data(root, image_size=(32, 32))
    assert len(data.labels) == 240
    assert sorted(p.split("/")[-1] for p, _ in data.skipped) == ["broken.png", "empty.jpg"]


def test_empty_dataset_and_empty_class_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="data not found"):
        load_data(tmp_path / "missing")
    (tmp_path / "happy").mkdir()
    (tmp_path / "sad").mkdir()
    with pytest.raises(DataError, match="class 'happy' has no images"):
        load_data(tmp_path)
    with pytest.raises(DataError, match="unsupported data format"):
        load_data(__file__)


def test_pipeline_batches_one_hot_and_soft_targets(fer_npz):
    data = load_data(fer_npz)
    train = data.split_indices("train")
    hard = targets_for(data, train)
    soft = targets_for(data, train, soft_label_weight=0.3)
    assert np.array_equal(hard.argmax(1), data.labels[train]) and np.array_equal(soft.argmax(1), hard.argmax(1))
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)
    dataset = make_dataset(data.images[train], soft, batch_size=16, training=True, augment=True)
    images, targets = next(iter(dataset))
    assert images.shape == (16, 48, 48, 1) and images.dtype.name == "float32"
    assert float(images.numpy().min()) >= 0 and float(images.numpy().max()) <= 255
    assert targets.shape == (16, 7)
    batches = list(make_dataset(data.images[train], hard, batch_size=32, training=False))
    assert sum(len(b[0]) for b in batches) == len(train)


def _roughness(images: np.ndarray) -> float:
    """Mean squared difference between neighbouring pixels: high for sharp detail, low for blurred faces."""
    return float(np.square(np.diff(images, axis=2)).mean())


def test_degrade_quality_lowers_resolution_and_adds_noise_to_the_chosen_share():
    from ferkit.data.pipeline import degrade_quality

    faces = make_faces(10, seed=3)[0][:64].astype(np.float32)
    untouched = degrade_quality(faces, seed=1, low_resolution_share=0.0, noise_share=0.0).numpy()
    np.testing.assert_array_equal(untouched, faces)
    low = degrade_quality(faces, seed=1, low_resolution_share=1.0, noise_share=0.0).numpy()
    assert low.shape == faces.shape and _roughness(low) < 0.9 * _roughness(faces)
    noisy = degrade_quality(faces, seed=1, low_resolution_share=0.0, noise_share=1.0).numpy()
    assert noisy.min() >= 0 and noisy.max() <= 255
    assert np.mean(np.abs(noisy - faces).reshape(64, -1).max(axis=1) > 0) > 0.9
    mixed = degrade_quality(faces, seed=1).numpy()
    changed = np.abs(mixed - faces).reshape(64, -1).max(axis=1) > 0
    assert 0.2 < changed.mean() < 0.9


def test_degrade_applies_to_training_batches_only(fer_npz):
    data = load_data(fer_npz)
    train = data.split_indices("train")[:32]
    targets = targets_for(data, train)
    plain = next(iter(make_dataset(data.images[train], targets, 32, training=False, degrade=True)))[0].numpy()
    np.testing.assert_array_equal(plain, data.images[train].astype(np.float32))
    degraded = next(iter(make_dataset(data.images[train], targets, 32, training=True, degrade=True, seed=5)))[0]
    assert degraded.shape == (32, 48, 48, 1)
    assert float(np.abs(np.sort(degraded.numpy().ravel()) - np.sort(plain.ravel())).max()) > 0


def test_augmented_training_batches_are_the_same_for_the_same_seed():
    """Random augmentation drawn in parallel map calls took its numbers in thread order (batch 3 of 30 already
    differed), so two runs with one seed trained on different faces."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(1024, 48, 48, 1), dtype=np.uint8)
    targets = np.eye(7, dtype=np.float32)[rng.integers(0, 7, len(images))]

    def batches(seed):
        dataset = make_dataset(images, targets, 32, training=True, augment=True, degrade=True, seed=seed)
        return [x.numpy() for x, _ in dataset.take(40)]

    first, second = batches(3), batches(3)
    for index, (one, other) in enumerate(zip(first, second, strict=True)):
        np.testing.assert_array_equal(one, other, err_msg=f"batch {index} differs")
    assert not np.array_equal(first[0], batches(4)[0])


def test_flip_only_augmentation_mirrors_some_faces_and_changes_nothing_else():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(64, 48, 48, 1), dtype=np.uint8)
    targets = np.eye(7, dtype=np.float32)[np.arange(64) % 7]
    dataset = make_dataset(images, targets, 64, training=True, augment="flip", seed=2)
    batch, batch_targets = (tensor.numpy() for tensor in next(iter(dataset)))
    faces = {target.tobytes() + image.tobytes() for image, target in zip(images, targets, strict=True)}
    as_is = mirrored = 0
    for image, target in zip(batch.astype(np.uint8), batch_targets, strict=True):
        as_is += target.tobytes() + image.tobytes() in faces
        mirrored += target.tobytes() + image[:, ::-1].tobytes() in faces
    assert as_is + mirrored == 64
    assert 10 < mirrored < 54


def test_retarget_sees_the_augmented_batch_the_network_sees():
    """Online distillation: the teacher's part of each target comes from the batch after augmentation."""
    import tensorflow as tf

    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(32, 48, 48, 1), dtype=np.uint8)
    targets = np.eye(7, dtype=np.float32)[np.arange(32) % 7]

    def brightness_teacher(batch):
        level = tf.reduce_mean(batch, axis=[1, 2, 3]) / 255
        return tf.stack([level, 1 - level] + [tf.zeros_like(level)] * 5, axis=1)

    dataset = make_dataset(images, targets, 32, training=True, augment=True, seed=3,
                           retarget=lambda x, y: 0.6 * y + 0.4 * brightness_teacher(x))
    batch, batch_targets = (tensor.numpy() for tensor in next(iter(dataset)))
    teacher_part = (batch_targets - 0.6 * np.eye(7, dtype=np.float32)[batch_targets.argmax(axis=1)]) / 0.4
    np.testing.assert_allclose(teacher_part, brightness_teacher(batch).numpy(), atol=1e-5)
    np.testing.assert_allclose(batch_targets.sum(axis=1), 1, atol=1e-5)
    clean_levels = np.sort(images.reshape(32, -1).mean(axis=1) / 255)
    assert not np.allclose(np.sort(teacher_part[:, 0]), clean_levels, atol=1e-3), "taught the clean faces"


def test_augmentation_runs_in_tf_data_on_the_jax_backend():
    """Multi-process training runs on JAX with the same pipeline; an augmenting `Sequential` failed there
    ("Cannot convert a symbolic tf.Tensor to a numpy array") because it ran JAX ops inside tf.data."""
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np, keras\n"
        "from ferkit.data.pipeline import make_dataset\n"
        "assert keras.backend.backend() == 'jax'\n"
        "x = np.random.default_rng(0).integers(0, 256, (64, 48, 48, 1), dtype=np.uint8)\n"
        "y = np.eye(7, dtype='float32')[np.arange(64) % 7]\n"
        "batch = next(iter(make_dataset(x, y, 32, training=True, augment=True, degrade=True, seed=1)))[0].numpy()\n"
        "assert batch.shape == (32, 48, 48, 1) and 0 <= batch.min() and batch.max() <= 255\n"
        "assert not any(np.array_equal(image, face) for image in batch for face in x.astype('float32'))\n"
        "print('augmented on', keras.backend.backend())\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "augmented on jax" in result.stdout
