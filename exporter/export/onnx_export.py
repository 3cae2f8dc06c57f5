"""Export the Keras model to ONNX with tf2onnx, with a dynamic batch axis and the contract's names.

``tf2onnx.convert.from_keras`` fails on Keras 3 models (KeyError on ``keras_tensor_…``), so the
model is wrapped in a ``tf.function`` with an explicit input signature and converted with
``from_function``.
"""

from __future__ import annotations

import re
from pathlib import Path

import onnx
import tf2onnx

from exporter.contract import INPUT_NAME, OUTPUT_NAME
from exporter.export.serving import INPUT_SIGNATURE, serving_function

# tf2onnx 1.17 writes opsets up to 18. Opset 17 with IR version 8 (the IR that opset 17
# shipped with) loads in every onnxruntime and onnxruntime-web release since 1.14.
OPSET = 17
IR_VERSION = 8
BATCH_AXIS = "batch"
_COUNTER_SUFFIX = re.compile(r"__\d+$")


class OnnxExportError(RuntimeError):
    """The ONNX model did not pass ``onnx.checker`` or lacks the contract's names."""


def export_onnx(model, path: Path) -> onnx.ModelProto:
    """Convert ``model`` to ONNX, check it, and write it to ``path``; return the model proto."""
    proto, _ = tf2onnx.convert.from_function(
        serving_function(model), input_signature=INPUT_SIGNATURE, opset=OPSET
    )
    proto.ir_version = IR_VERSION
    _name_batch_axis(proto)
    _strip_name_counters(proto)
    # tf2onnx names the traced function here, with a per-process counter in its name.
    proto.graph.doc_string = "Fashion-MNIST MLP exported by exporter with tf2onnx"
    _check(proto)
    path.write_bytes(proto.SerializeToString())
    return proto


def _name_batch_axis(proto: onnx.ModelProto) -> None:
    for value in (*proto.graph.input, *proto.graph.output):
        proto_dim = value.type.tensor_type.shape.dim[0]
        proto_dim.ClearField("dim_value")
        proto_dim.dim_param = BATCH_AXIS


def _strip_name_counters(proto: onnx.ModelProto) -> None:
    """Drop the ``__<n>`` suffixes that tf2onnx takes from a process-wide counter.

    The counter keeps rising across exports in one process, so without this a second export of
    the same model in the same process would give different bytes.
    """
    names = [value.name for value in proto.graph.initializer]
    names += [name for node in proto.graph.node for name in (*node.input, *node.output, node.name)]
    renamed: dict[str, str] = {}
    taken = set(names)
    for name in names:
        if name in renamed or not _COUNTER_SUFFIX.search(name):
            continue
        candidate = _COUNTER_SUFFIX.sub("", name)
        suffix = 1
        while candidate in taken:
            candidate = f"{_COUNTER_SUFFIX.sub('', name)}_{suffix}"
            suffix += 1
        renamed[name] = candidate
        taken.add(candidate)
    for value in proto.graph.initializer:
        value.name = renamed.get(value.name, value.name)
    for node in proto.graph.node:
        node.name = renamed.get(node.name, node.name)
        node.input[:] = [renamed.get(name, name) for name in node.input]
        node.output[:] = [renamed.get(name, name) for name in node.output]


def _check(proto: onnx.ModelProto) -> None:
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as error:
        raise OnnxExportError(f"the exported ONNX model is invalid: {error}") from error
    inputs = [value.name for value in proto.graph.input]
    outputs = [value.name for value in proto.graph.output]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise OnnxExportError(
            f"the exported ONNX model has inputs {inputs} and outputs {outputs}; "
            f"expected [{INPUT_NAME!r}] and [{OUTPUT_NAME!r}]"
        )
