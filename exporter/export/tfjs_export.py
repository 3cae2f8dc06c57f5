"""Export the Keras model to TensorFlow.js, as a graph model and as a layers model.

The graph model goes through a SavedModel whose serving signature has the contract's input and
output names, converted by ``convert_tf_saved_model``.
The layers model comes from ``save_keras_model``, whose ``model.json`` for a Keras 3 model
TF.js 4.22 cannot load, so its topology is rewritten into the Keras 2 form that TF.js reads
(see ``tfjs_layers_topology``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
from pathlib import Path

import tensorflow as tf
import tensorflowjs

from exporter.export.serving import serving_function
from exporter.export.tfjs_layers_topology import to_tfjs_topology


def export_graph_model(model, folder: Path) -> Path:
    """Write a TF.js graph model into ``folder``; return the path of its ``model.json``."""
    with tempfile.TemporaryDirectory(prefix="saved-model-") as saved_model:
        module = tf.Module()
        module.model = model  # tracks the variables that the function captures
        module.serve = serving_function(model)
        tf.saved_model.save(module, saved_model, signatures={"serving_default": module.serve})
        tensorflowjs.converters.convert_tf_saved_model(
            saved_model,
            str(folder),
            signature_def="serving_default",
            saved_model_tags="serve",
        )
    # The converter writes each node's attributes in protobuf map order, which changes from
    # run to run; sorted keys make equal models give equal bytes.
    model_json = folder / "model.json"
    model_json.write_text(json.dumps(json.loads(model_json.read_text()), sort_keys=True))
    return model_json


def export_layers_model(model, folder: Path) -> Path:
    """Write a TF.js layers model that ``tf.loadLayersModel`` loads; return its ``model.json``."""
    # The converter saves an HDF5 copy first, which makes Keras warn that HDF5 is legacy and
    # makes tensorflowjs print "failed to lookup keras version"; neither applies to the output.
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            tensorflowjs.converters.save_keras_model(model, str(folder))
    finally:
        absl_logger.setLevel(level)
    model_json = folder / "model.json"
    document = json.loads(model_json.read_text())
    document["modelTopology"] = to_tfjs_topology(document["modelTopology"])
    model_json.write_text(json.dumps(document, sort_keys=True))
    return model_json
