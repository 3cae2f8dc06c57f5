"""The model's serving function: one named input, one named output, shared by every export."""

from __future__ import annotations

import tensorflow as tf

from exporter.contract import IMAGE_SIZE, INPUT_NAME, OUTPUT_NAME

INPUT_SIGNATURE = (tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE), tf.float32, name=INPUT_NAME),)


def serving_function(model) -> tf.types.experimental.PolymorphicFunction:
    """Wrap ``model`` in a ``tf.function`` that maps ``image`` to ``{"probabilities": …}``."""

    @tf.function(input_signature=INPUT_SIGNATURE)
    def serve(image):
        return {OUTPUT_NAME: model(image, training=False)}

    return serve
