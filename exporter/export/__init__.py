"""Export a trained Keras model: ONNX (``onnx_export``) and TensorFlow.js graph and layers models (``tfjs_export``)."""
