"""The specification's LeNet-inspired CNN, layer by layer as `seed-spec.md` describes it."""

from __future__ import annotations

from ferkit.models.registry import register


def _after_conv(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1 if size >= kernel else 0


def feature_map_sizes(config) -> list[tuple[int, int]]:
    """Spatial sizes after conv1, pool1, conv2 and pool2 ('valid' padding everywhere)."""
    sizes, current = [], list(config.ImageSize)
    stride, pool_stride = config.NoOfStrides, 2 * config.NoOfStrides
    for _block in range(2):
        current = [_after_conv(s, k, stride) for s, k in zip(current, config.KernelSize, strict=True)]
        sizes.append(tuple(current))
        current = [_after_conv(s, p, pool_stride) for s, p in zip(current, config.PoolSize, strict=True)]
        sizes.append(tuple(current))
    return sizes


def check(config) -> None:
    names = ["Conv2D 1", "MaxPool2D 1", "Conv2D 2", "MaxPool2D 2"]
    for name, size in zip(names, feature_map_sizes(config), strict=True):
        if min(size) < 1:
            raise ValueError(
                f"KernelSize={list(config.KernelSize)}, NoOfStrides={config.NoOfStrides}, "
                f"PoolSize={list(config.PoolSize)} shrink the feature map to nothing after {name} "
                f"at ImageSize={list(config.ImageSize)}"
            )


@register("lenet", check=check)
def build_lenet(config, num_classes: int):
    """Resizing → Rescaling → [Conv2D → BN → MaxPool → Dropout] → [Conv2D(2f+4) → BN → MaxPool] →
    Flatten → Dense → BN → Dropout → Dense → BN → softmax."""
    import keras  # imported here so that validating a configuration does not load TensorFlow
    from keras import layers, regularizers

    height, width = config.ImageSize
    stride = config.NoOfStrides
    pool_stride = 2 * stride

    def l2():
        return regularizers.L2(config.RegularizationRate)

    return keras.Sequential(
        [
            keras.Input(shape=(None, None, config.channels)),
            layers.Resizing(height, width),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(
                config.NoOfFilters,
                kernel_size=config.KernelSize,
                strides=stride,
                padding="valid",
                activation="relu",
                kernel_regularizer=l2(),
            ),
            layers.BatchNormalization(),
            layers.MaxPool2D(pool_size=config.PoolSize, strides=pool_stride),
            layers.Dropout(config.DropOutRate),
            layers.Conv2D(
                config.NoOfFilters * 2 + 4,
                kernel_size=config.KernelSize,
                strides=stride,
                padding="valid",
                activation="relu",
                kernel_regularizer=l2(),
            ),
            layers.BatchNormalization(),
            layers.MaxPool2D(pool_size=config.PoolSize, strides=pool_stride),
            layers.Flatten(),
            layers.Dense(config.NoOfUDense1, activation="relu", kernel_regularizer=l2()),
            layers.BatchNormalization(),
            layers.Dropout(config.DropOutRate),
            layers.Dense(config.NoOfUDense2, activation="relu", kernel_regularizer=l2()),
            layers.BatchNormalization(),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="lenet",
    )
