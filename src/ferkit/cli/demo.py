"""`ferkit demo`: the main job on a built-in default — emotions on a real photo with the shipped model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ferkit.errors import FerkitError


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the photo and its annotated copy.")] = Path("runs/demo"),
    image: Annotated[Path | None, typer.Option(help="Photo to use instead of scikit-image's astronaut.")] = None,
    model: Annotated[Path | None, typer.Option(help="Model file (default: the shipped model).")] = None,
) -> None:
    """Find the faces in a photo (default: scikit-image's astronaut, Eileen Collins), print one JSON line with
    their emotions, and write the photo annotated with boxes, labels and probability bars."""
    from ferkit.data.images import decode_image
    from ferkit.inference import EmotionRecognizer, annotate
    from ferkit.inference.outputs import write_image

    out.mkdir(parents=True, exist_ok=True)
    if image is None:
        try:
            from skimage import data
        except ImportError:
            raise FerkitError("the default photo comes with scikit-image: pip install 'ferkit[demo]', or give "
                              "--image PHOTO") from None

        image = write_image(out / "astronaut.png", data.astronaut())
    recognizer = EmotionRecognizer.load(model)
    rgb = decode_image(image)
    prediction = recognizer.predict(rgb)
    typer.echo(json.dumps(prediction.to_json(file=str(image))))
    annotated = write_image(out / f"{Path(image).stem}.annotated.png", annotate(rgb, prediction))
    faces = ", ".join(f"{face.emotion} ({face.confidence:.0%})" for face in prediction) or "no face found"
    typer.echo(f"{len(prediction)} face(s): {faces}. Annotated image: {annotated.resolve()}", err=True)

