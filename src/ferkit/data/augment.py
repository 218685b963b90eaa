"""Domain-gap augmentation: training faces made to look like faces cut from other people's photos.

FER-2013 is 48×48 grey, evenly lit and tightly framed; faces from phones, webcams and films are colour,
unevenly exposed, compressed, sometimes soft or partly covered, tilted, and framed by a detector whose box
varies. `domain_gap_augmenter` draws all of that on a training batch (float pixels 0..255, NHWC):

- geometry: mirror, roll within ±20°, scale −25…+15 %, shift ±10 % (the detector's box varies);
- light: brightness ±35 %, contrast ±45 %, and a gamma curve (exposure) with log-gamma within ±0.5;
- colour → grey with varied channel weights (3-channel batches only: each chosen face is replaced by a grey
  image made with random weights around the usual luminance weights, in all three channels, so a colour
  network also learns grey faces and several grey conversions);
- blur (Gaussian, σ up to 1.5 px, on a share of the faces), JPEG artefacts (quality 10–70 on a share);
- partial occlusion (a random rectangle of random grey, like a hand or glasses, on a share).

Lower resolution and sensor noise come from `DegradeQuality` (`ferkit.data.pipeline.degrade_quality`).
Every random number comes from seeded ops, drawn one batch at a time, so one `Seed` gives one run.
"""

from __future__ import annotations

import math

import tensorflow as tf

ROLL_DEGREES = 20
ZOOM = (-0.25, 0.15)
SHIFT = 0.1
BRIGHTNESS = 0.35
CONTRAST = 0.45
MAX_LOG_GAMMA = 0.5
GREY_SHARE = 0.5
LUMINANCE = (0.299, 0.587, 0.114)
GREY_WEIGHT_SPREAD = 0.5
BLUR_SHARE = 0.25
MAX_BLUR_SIGMA = 1.5
JPEG_SHARE = 0.3
JPEG_QUALITY = (10, 70)
OCCLUSION_SHARE = 0.2
OCCLUSION_AREA = (0.04, 0.2)


def _chosen(images: tf.Tensor, share: float, seed: int) -> tf.Tensor:
    """A (N, 1, 1, 1) bool mask choosing about `share` of the batch."""
    return tf.random.uniform([tf.shape(images)[0], 1, 1, 1], seed=seed) < share


def random_gamma(images: tf.Tensor, seed: int, max_log_gamma: float = MAX_LOG_GAMMA) -> tf.Tensor:
    """Each face through its own gamma curve, gamma = exp(u), u uniform in ±`max_log_gamma` (exposure)."""
    gamma = tf.exp(tf.random.uniform([tf.shape(images)[0], 1, 1, 1], -max_log_gamma, max_log_gamma, seed=seed))
    return 255.0 * tf.pow(tf.clip_by_value(images / 255.0, 0.0, 1.0), gamma)


def random_grey(images: tf.Tensor, seed: int, share: float = GREY_SHARE) -> tf.Tensor:
    """About `share` of a 3-channel batch turned grey with per-face random channel weights (summing to 1,
    each within ±`GREY_WEIGHT_SPREAD` of its luminance weight, relatively); 1-channel batches pass through."""
    if images.shape[-1] != 3:
        return images
    jitter = tf.random.uniform([tf.shape(images)[0], 1, 1, 3], 1 - GREY_WEIGHT_SPREAD, 1 + GREY_WEIGHT_SPREAD,
                               seed=seed)
    weights = jitter * tf.constant(LUMINANCE, tf.float32)
    weights = weights / tf.reduce_sum(weights, axis=-1, keepdims=True)
    grey = tf.reduce_sum(images * weights, axis=-1, keepdims=True)
    return tf.where(_chosen(images, share, seed + 1), tf.repeat(grey, 3, axis=-1), images)


def _gaussian_kernel(sigma: tf.Tensor, radius: int) -> tf.Tensor:
    offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(offsets / sigma))
    return kernel / tf.reduce_sum(kernel)


def random_blur(images: tf.Tensor, seed: int, share: float = BLUR_SHARE,
                max_sigma: float = MAX_BLUR_SIGMA) -> tf.Tensor:
    """About `share` of the batch blurred by a separable Gaussian of a sigma drawn per batch (0.5…`max_sigma`)."""
    radius = math.ceil(2 * max_sigma)
    sigma = tf.random.uniform([], 0.5, max_sigma, seed=seed)
    kernel = _gaussian_kernel(sigma, radius)
    channels = images.shape[-1]
    horizontal = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, channels, 1])
    vertical = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, channels, 1])
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    blurred = tf.nn.depthwise_conv2d(padded, horizontal, [1, 1, 1, 1], "VALID")
    blurred = tf.nn.depthwise_conv2d(blurred, vertical, [1, 1, 1, 1], "VALID")
    return tf.where(_chosen(images, share, seed + 1), blurred, images)


def random_jpeg(images: tf.Tensor, seed: int, share: float = JPEG_SHARE,
                quality: tuple[int, int] = JPEG_QUALITY) -> tf.Tensor:
    """About `share` of the batch JPEG-compressed and decoded again at a quality drawn per batch (only the
    chosen faces are encoded: JPEG is the costliest step here)."""
    level = tf.random.uniform([], quality[0], quality[1] + 1, dtype=tf.int32, seed=seed)
    rows = tf.where(tf.reshape(_chosen(images, share, seed + 1), [-1]))
    compressed = tf.map_fn(lambda image: tf.image.adjust_jpeg_quality(image / 255.0, level) * 255.0,
                           tf.gather_nd(images, rows))
    compressed = tf.reshape(compressed, tf.concat([[-1], tf.shape(images)[1:]], axis=0))  # also when none chosen
    return tf.tensor_scatter_nd_update(images, rows, compressed)

def random_occlusion(images: tf.Tensor, seed: int, share: float = OCCLUSION_SHARE,
                     area: tuple[float, float] = OCCLUSION_AREA) -> tf.Tensor:
    """About `share` of the batch with one rectangle (`area` of the face, random aspect) of a random grey."""
    shape = tf.shape(images)
    n, height, width = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    fraction = tf.random.uniform([n], *area, seed=seed)
    aspect = tf.exp(tf.random.uniform([n], -0.7, 0.7, seed=seed + 1))
    box_h = tf.sqrt(fraction / aspect) * height
    box_w = tf.sqrt(fraction * aspect) * width
    top = tf.random.uniform([n], 0, 1, seed=seed + 2) * (height - box_h)
    left = tf.random.uniform([n], 0, 1, seed=seed + 3) * (width - box_w)
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < (top + box_h)[:, None, None])
              & (cols >= left[:, None, None]) & (cols < (left + box_w)[:, None, None]))
    fill = tf.random.uniform([n, 1, 1, 1], 0, 255, seed=seed + 4)
    occluded = tf.where(inside[..., None], fill, images)
    return tf.where(_chosen(images, share, seed + 5), occluded, images)


def domain_gap_augmenter(seed: int):
    """A function of a training batch (float 0..255) applying every transformation in the module docstring."""
    from keras import layers

    geometry_and_light = layers.Pipeline([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(ROLL_DEGREES / 360, fill_mode="reflect", seed=seed + 1),
        layers.RandomZoom(ZOOM, fill_mode="reflect", seed=seed + 2),
        layers.RandomTranslation(SHIFT, SHIFT, fill_mode="reflect", seed=seed + 3),
        layers.RandomBrightness(BRIGHTNESS, value_range=(0, 255), seed=seed + 4),
        layers.RandomContrast(CONTRAST, value_range=(0, 255), seed=seed + 5),
    ], name="domain_gap")

    def augment(images: tf.Tensor) -> tf.Tensor:
        images = random_grey(images, seed + 10)
        images = tf.clip_by_value(geometry_and_light(images, training=True), 0, 255)
        images = random_gamma(images, seed + 20)
        images = random_blur(images, seed + 30)
        images = random_occlusion(images, seed + 40)
        return tf.clip_by_value(random_jpeg(images, seed + 50), 0, 255)

    return augment
