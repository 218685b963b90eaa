"""Model metadata is read with a size cap and validated: a malformed model file is one line, never a traceback."""

from __future__ import annotations

import json
import resource
import zipfile
from pathlib import Path

import h5py
import pytest
from support.inference import FER_CLASSES, write_tiny_model

from ferkit.errors import ModelFileError
from ferkit.models.saving import (
    H5_ATTRIBUTE,
    MAX_METADATA_BYTES,
    METADATA_ENTRY,
    ModelMetadata,
    load_model,
    read_metadata,
    save_model,
)


@pytest.fixture(scope="module")
def good_model(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.keras")


def with_metadata(source: Path, target: Path, entry: bytes) -> Path:
    """A copy of the `.keras` archive `source` whose ferkit.json is `entry`."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            if item.filename != METADATA_ENTRY:
                new.writestr(item, old.read(item))
        new.writestr(METADATA_ENTRY, entry)
    return target


def good_values(source: Path) -> dict:
    with zipfile.ZipFile(source) as archive:
        return json.loads(archive.read(METADATA_ENTRY))


def changed(values: dict, **updates) -> bytes:
    return json.dumps({**values, **updates}).encode()


def without(values: dict, key: str) -> bytes:
    return json.dumps({k: v for k, v in values.items() if k != key}).encode()


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda v: b"{not json", "metadata is not valid JSON"),
    (lambda v: b"[1, 2, 3]", "metadata must be a JSON object, not list"),
    (lambda v: without(v, "class_names"), "metadata key class_names: Field required"),
    (lambda v: without(v, "image_size"), "metadata key image_size: Field required"),
    (lambda v: changed(v, image_size=[-48, 48]), "metadata key image_size: Value error, both sides must be"),
    (lambda v: changed(v, image_size="big"), "metadata key image_size"),
    (lambda v: changed(v, class_names="angry"), "metadata key class_names"),
    (lambda v: changed(v, class_names=["a", "a", "b"]), "class names must be distinct"),
    (lambda v: changed(v, color_mode="cmyk"), "metadata key color_mode"),
    (lambda v: changed(v, temperature=-1), "metadata key temperature"),
], ids=["bad-json", "list", "no-classes", "no-size", "negative-size", "size-string", "classes-string",
        "duplicate-classes", "colour-mode", "negative-temperature"])
def test_malformed_metadata_is_one_line_naming_the_file_and_the_problem(good_model, tmp_path, damage, expected):
    broken = with_metadata(good_model, tmp_path / "broken.keras", damage(good_values(good_model)))
    for read in (read_metadata, load_model):
        with pytest.raises(ModelFileError) as error:
            read(broken)
        message = str(error.value)
        assert message.startswith(f"{broken}: ") and expected in message, message
        assert "\n" not in message


def test_three_class_names_for_a_seven_class_model_are_refused_on_load(good_model, tmp_path):
    broken = with_metadata(good_model, tmp_path / "three.keras",
                           changed(good_values(good_model), class_names=["a", "b", "c"]))
    assert read_metadata(broken).class_names == ["a", "b", "c"]  # well-formed on its own
    with pytest.raises(ModelFileError, match="names 3 classes but the model has 7 outputs"):
        load_model(broken)


def bomb(source: Path, target: Path, entry_name: str, size: int) -> Path:
    """A copy of `source` whose `entry_name` is `size` spaces (1 GB compresses to about 1 MB)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            if item.filename != entry_name:
                new.writestr(item, old.read(item))
        with new.open(entry_name, "w", force_zip64=True) as entry:
            block = b" " * min(size, 1 << 24)
            for _ in range(size // len(block)):
                entry.write(block)
    return target


@pytest.mark.parametrize(("entry", "size", "expected"), [
    (METADATA_ENTRY, 1 << 30, "ferkit.json expands to 1073741824 bytes"),
    ("config.json", 1 << 30, "config.json expands to 1073741824 bytes"),
    (METADATA_ENTRY, 2 << 20, f"ferkit.json is larger than {MAX_METADATA_BYTES} bytes"),
])
def test_a_decompression_bomb_is_refused_without_inflating_it(good_model, tmp_path, entry, size, expected):
    # Reading a 1 GB ferkit.json whole took 3 GB of memory.
    crafted = bomb(good_model, tmp_path / "bomb.keras", entry, size)
    assert crafted.stat().st_size < 5_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for read in (read_metadata, load_model):
        with pytest.raises(ModelFileError, match=expected):
            read(crafted)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 100_000


def test_h5_metadata_is_validated_too(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(7, activation="softmax")])
    path = save_model(model, tmp_path / "m.h5", ModelMetadata(class_names=FER_CLASSES, image_size=(48, 48)))
    assert load_model(path)[1].class_names == FER_CLASSES
    with h5py.File(path, "a") as handle:
        handle.attrs[H5_ATTRIBUTE] = json.dumps({"class_names": FER_CLASSES, "image_size": [0, 48]})
    with pytest.raises(ModelFileError, match="metadata key image_size"):
        read_metadata(path)
    with h5py.File(path, "a") as handle:
        handle.attrs[H5_ATTRIBUTE] = 7
    with pytest.raises(ModelFileError, match=f"attribute {H5_ATTRIBUTE} is not a JSON string"):
        read_metadata(path)


def test_well_formed_metadata_round_trips(good_model):
    model, metadata = load_model(good_model)
    assert metadata.class_names == FER_CLASSES and metadata.image_size == (48, 48)
    assert metadata.channels == 1
    assert ModelMetadata.from_json(metadata.to_json()) == metadata
