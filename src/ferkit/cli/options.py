"""Options several commands share, spelled and explained once."""

from __future__ import annotations

from typing import Annotated

import typer

TrustModelOption = Annotated[bool, typer.Option(
    "--trust-model",
    help="Allow a TensorFlow SavedModel folder as the model. Loading one runs the TensorFlow operations it "
         "contains, which can read and write files: use it only for a SavedModel from a source you trust. "
         ".keras/.h5 files load in Keras' safe mode (no code, no Lambda layers), .onnx/.tflite run only fixed "
         "operators; they need no trust.")]
