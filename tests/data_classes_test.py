"""Class names match by name in any case, never by position."""

from ferkit.data.classes import class_positions


def test_class_positions_ignore_case_and_order():
    assert class_positions(["Angry", "Happy", "contempt"], ["happy", "angry"]) == [1, 0, None]
    assert class_positions([" Sad "], ["angry", "sad"]) == [1]
