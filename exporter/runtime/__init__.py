"""Classify Fashion-MNIST images with an exported ONNX model, using only onnxruntime, NumPy and Pillow.

    from exporter.runtime import Classifier
    prediction = Classifier.from_dir("build").predict("shoe.png")
    print(prediction.label, prediction.probability, prediction.top(3))

Nothing in this package imports TensorFlow or Keras, so ``pip install .`` without extras is
enough to use it.
"""

from exporter.runtime.classifier import (
    Classifier,
    ModelDirError,
    ModelMismatchError,
    Prediction,
    find_metadata,
)
from exporter.runtime.preprocess import (
    BlankImageError,
    ObjectTooSmallError,
    PreprocessError,
    UnreadableImageError,
    preprocess_image,
)

__all__ = [
    "BlankImageError",
    "Classifier",
    "ModelDirError",
    "ModelMismatchError",
    "ObjectTooSmallError",
    "Prediction",
    "PreprocessError",
    "UnreadableImageError",
    "find_metadata",
    "preprocess_image",
]
