"""Prediction on photos and video: face detection, framing, the `EmotionRecognizer`, Grad-CAM, annotation."""

from ferkit.inference.classifier import load_classifier
from ferkit.inference.drawing import annotate
from ferkit.inference.predictor import EmotionRecognizer, Face, Prediction, load_image

__all__ = ["EmotionRecognizer", "Face", "Prediction", "annotate", "load_classifier", "load_image"]
