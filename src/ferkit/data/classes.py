"""Class names compared as people write them: `Happy`, `happy` and ` happy ` name the same class.

Folder datasets take their class names from folder names (SFEW writes `Angry`, ferkit's models `angry`), and
their classes sort alphabetically where FER-2013's do not; models, data and weights are therefore matched by
name, never by position.
"""

from __future__ import annotations


def class_key(name: str) -> str:
    """The form two class names are compared in (case and surrounding spaces ignored)."""
    return name.strip().casefold()


def class_positions(names: list[str], reference: list[str]) -> list[int | None]:
    """For each of `names`, the index of the same class in `reference`, or None where it has none."""
    index = {class_key(name): position for position, name in enumerate(reference)}
    return [index.get(class_key(name)) for name in names]
