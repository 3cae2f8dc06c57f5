"""Export a trained Keras model: ONNX (``onnx_export``) and TensorFlow.js graph and layers models (``tfjs_export``)."""

import os

# tensorflowjs imports tensorflow_decision_forests, which imports IPython to show a banner
# whenever stdout is not a terminal file (under pytest's capture, for one). IPython is not
# a dependency, so turn the banner off.
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
