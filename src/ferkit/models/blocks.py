"""Pieces that ferkit's own architectures share: the cropped input, the classifier head, the size check.

The spec's `lenet` builds its layers as the specification lists them and uses none of these.
"""

from __future__ import annotations


def check_halvings(config, halvings: int, what: str) -> None:
    """Refuse an input (after cropping) too small to be halved `halvings` times by the `what` of a network."""
    height, width = config.input_size
    if min(height, width) < 2**halvings:
        raise ValueError(
            f"input size {[height, width]} is too small for {halvings} {what} "
            f"(need at least {2**halvings} pixels per side)"
        )


def l2_regularizer(config):
    """`RegularizationRate` as an L2 kernel regularizer, or None when it is 0."""
    from keras import regularizers

    return regularizers.L2(config.RegularizationRate) if config.RegularizationRate else None


def cropped_input(config):
    """The image input (pixel values 0..255, any size) resized to `ImageSize`, centre-cropped to `CropSize`
    and scaled to 0..1: returns `(inputs, x)`. Training feeds randomly shifted full-size faces; inference
    feeds the face as framed, with no separate crop step to get wrong."""
    import keras
    from keras import layers

    height, width = config.ImageSize
    crop_height, crop_width = config.input_size
    inputs = keras.Input(shape=(None, None, config.channels), name="image")
    x = layers.Resizing(height, width, name="resize")(inputs)
    x = layers.CenterCrop(crop_height, crop_width, name="center_crop")(x)
    return inputs, layers.Rescaling(1.0 / 255, name="rescale")(x)


def classifier_head(x, config, num_classes: int):
    """Global average pooling, `DropOutRate` dropout and a softmax over `num_classes`."""
    from keras import layers

    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(config.DropOutRate, name="dropout")(x)
    return layers.Dense(num_classes, activation="softmax", kernel_regularizer=l2_regularizer(config),
                        name="probabilities")(x)
