"""Datasets: loading the formats people have, and tf.data pipelines for training and evaluation."""

from ferkit.data.sources import FER2013_CLASSES, LabeledData, load_data

__all__ = ["FER2013_CLASSES", "LabeledData", "load_data"]
