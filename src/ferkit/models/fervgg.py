"""ferkit's default architecture: a compact VGG-style CNN with batch norm, sized for 2-core CPU training.

Four stages of 3×3 convolutions (widths f, 2f, 4f, 8f with f = `NoOfFilters`; one conv in the first stage,
two in the others), each followed by max pooling, then global average pooling, dropout and softmax. The
network centre-crops its input to `CropSize`, so training can feed randomly shifted full-size faces and
inference feeds the face as framed, with no separate crop step to get wrong.
"""

from __future__ import annotations

from ferkit.models.blocks import check_halvings, classifier_head, cropped_input, l2_regularizer
from ferkit.models.registry import register

STAGE_DEPTHS = (1, 2, 2, 2)


def check(config) -> None:
    check_halvings(config, len(STAGE_DEPTHS), "pooling stages")


@register("fervgg", check=check)
def build_fervgg(config, num_classes: int):
    """The default network for `config` (see the module docstring); `NoOfFilters` is the first stage's width."""
    import keras  # imported here so that validating a configuration does not load TensorFlow
    from keras import layers

    l2 = l2_regularizer(config)
    inputs, x = cropped_input(config)
    for stage, depth in enumerate(STAGE_DEPTHS):
        filters = config.NoOfFilters * 2**stage
        for index in range(depth):
            x = layers.Conv2D(
                filters, 3, padding="same", use_bias=False, kernel_regularizer=l2,
                name=f"stage{stage + 1}_conv{index + 1}",
            )(x)
            x = layers.BatchNormalization(name=f"stage{stage + 1}_bn{index + 1}")(x)
            x = layers.ReLU(name=f"stage{stage + 1}_relu{index + 1}")(x)
        x = layers.MaxPool2D(name=f"stage{stage + 1}_pool")(x)
    return keras.Model(inputs, classifier_head(x, config, num_classes), name="fervgg")
