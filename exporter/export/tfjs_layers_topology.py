"""Rewrite a Keras 3 model topology into the Keras 2 form that TensorFlow.js 4.22 loads.

``tensorflowjs.converters.save_keras_model`` copies Keras 3's config as it is. TF.js then
rejects it ("An InputLayer should be passed either a `batchInputShape` or an `inputShape`"),
because Keras 3 changed four things, which this module undoes:

- ``InputLayer`` has ``batch_shape`` where Keras 2 had ``batch_input_shape``;
- ``dtype`` is a ``DTypePolicy`` object where Keras 2 had a string;
- nested objects carry ``module`` and ``registered_name`` keys;
- ``inbound_nodes`` are ``{"args": [keras tensors], "kwargs": {}}`` records where Keras 2 had
  ``[[layer, node_index, tensor_index, kwargs]]`` lists, and ``input_layers``/``output_layers``
  may be a single flat triple.
"""

from __future__ import annotations

import copy
from typing import Any

# Config keys that Keras 3 added and TF.js's layer constructors reject or do not know.
_KERAS3_ONLY_KEYS = {"module", "registered_name", "optional", "quantization_config", "lora_rank", "lora_alpha"}


def to_tfjs_topology(topology: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the ``modelTopology`` of a Keras 3 ``model.json`` in Keras 2 form."""
    topology = copy.deepcopy(topology)
    model_config = topology["model_config"]
    config = model_config["config"]
    for layer in config["layers"]:
        layer["config"] = _clean(layer["config"])
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_input_shape"] = layer["config"].pop("batch_shape")
        if "inbound_nodes" in layer:
            layer["inbound_nodes"] = [_node_to_keras2(node) for node in layer["inbound_nodes"]]
    if model_config["class_name"] == "Functional":
        config["input_layers"] = _as_list_of_triples(config["input_layers"])
        config["output_layers"] = _as_list_of_triples(config["output_layers"])
    return topology


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value["config"]["name"]
        return {key: _clean(item) for key, item in value.items() if key not in _KERAS3_ONLY_KEYS}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _node_to_keras2(node: Any) -> Any:
    if not isinstance(node, dict):
        return node  # already in Keras 2 form
    kwargs = _clean(node.get("kwargs", {}))
    return [[*_history(tensor), kwargs] for tensor in _flatten_tensors(node["args"])]


def _flatten_tensors(args: Any) -> list[dict]:
    if isinstance(args, dict) and args.get("class_name") == "__keras_tensor__":
        return [args]
    if isinstance(args, (list, tuple)):
        return [tensor for item in args for tensor in _flatten_tensors(item)]
    return []


def _history(tensor: dict) -> list:
    layer_name, node_index, tensor_index = tensor["config"]["keras_history"]
    return [layer_name, node_index, tensor_index]


def _as_list_of_triples(value: list) -> list:
    if value and isinstance(value[0], str):
        return [value]
    return value
