"""Shared fixtures for the runtime tests: real Fashion-MNIST images and a small real ONNX model.

The model is a nearest-centroid classifier written as Flatten → Gemm → Softmax with
``onnx.helper``: its weights are the mean training image of each class, so it classifies real
test images far better than chance without TensorFlow. It has the input and output names and
shapes of the contract, and ``write_site`` writes it with a matching metadata.json.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from exporter import contract

# The real data set, where conftest's fashion_mnist_dir fixture looks for it too.
DATASET_DIR = Path(os.environ.get("FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist")
PIXELS = contract.IMAGE_SIZE * contract.IMAGE_SIZE
# Divides the centroid scores so the softmax gives graded probabilities, not one-hot ones.
LOGIT_SCALE = 1.0 / 200_000.0


@functools.cache
def load_images(split: str = "t10k") -> np.ndarray:
    """Return the uint8 images of the ``t10k`` or ``train`` IDX file, shape (N, 28, 28)."""
    with gzip.open(DATASET_DIR / f"{split}-images-idx3-ubyte.gz") as file:
        data = file.read()
    return np.frombuffer(data, np.uint8, offset=16).reshape(-1, contract.IMAGE_SIZE, contract.IMAGE_SIZE)


@functools.cache
def load_labels(split: str = "t10k") -> np.ndarray:
    """Return the uint8 labels of the ``t10k`` or ``train`` IDX file, shape (N,)."""
    with gzip.open(DATASET_DIR / f"{split}-labels-idx1-ubyte.gz") as file:
        data = file.read()
    return np.frombuffer(data, np.uint8, offset=8)


@functools.cache
def centroid_weights() -> tuple[np.ndarray, np.ndarray]:
    """Return Gemm weights (784, 10) and bias (10,) scoring x·μ − |μ|²/2 for each class mean μ."""
    images = load_images("train").reshape(-1, PIXELS).astype(np.float64)
    labels = load_labels("train")
    means = np.stack([images[labels == c].mean(axis=0) for c in range(len(contract.LABELS))])
    weights = (means.T * LOGIT_SCALE).astype(np.float32)
    bias = (-0.5 * (means**2).sum(axis=1) * LOGIT_SCALE).astype(np.float32)
    return weights, bias


def make_model(
    input_name: str = contract.INPUT_NAME,
    output_name: str = contract.OUTPUT_NAME,
    outputs: int = len(contract.LABELS),
    image_size: int = contract.IMAGE_SIZE,
) -> onnx.ModelProto:
    """Build the centroid classifier; the arguments make deliberately mismatched variants."""
    weights, bias = centroid_weights()
    if outputs != weights.shape[1]:
        weights = np.resize(weights, (PIXELS, outputs))
        bias = np.resize(bias, (outputs,))
    if image_size != contract.IMAGE_SIZE:
        weights = np.resize(weights, (image_size * image_size, outputs))
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", [input_name], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "weights", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], [output_name], axis=-1),
        ],
        "centroid_classifier",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", image_size, image_size])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", outputs])],
        initializer=[
            helper.make_tensor("weights", TensorProto.FLOAT, weights.shape, weights.ravel().tolist()),
            helper.make_tensor("bias", TensorProto.FLOAT, bias.shape, bias.tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_metadata() -> dict[str, Any]:
    """Return a metadata.json document as the build writes it, for the model of ``make_model``."""
    metadata = contract.describe()
    metadata["models"] = {
        "onnx": "models/model.onnx",
        "tfjs_graph": "models/tfjs-graph/model.json",
        "tfjs_layers": "models/tfjs-layers/model.json",
    }
    return metadata


def write_site(
    build_dir: Path,
    metadata: dict[str, Any] | None = None,
    model: onnx.ModelProto | None = None,
) -> Path:
    """Write ``build_dir/site/metadata.json`` and its ONNX model; return the site folder."""
    site = build_dir / "site"
    (site / "models").mkdir(parents=True, exist_ok=True)
    onnx.save(model if model is not None else make_model(), site / "models" / "model.onnx")
    document = metadata if metadata is not None else make_metadata()
    (site / "metadata.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    return site


def variant(metadata: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Return a deep copy of ``metadata`` with the key ``dotted`` ("a.b") set to ``value``."""
    result = copy.deepcopy(metadata)
    *parents, last = dotted.split(".")
    target = result
    for key in parents:
        target = target[key]
    target[last] = value
    return result


@pytest.fixture(scope="session")
def model_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build folder whose site/ holds the centroid classifier and a matching metadata.json."""
    build_dir = tmp_path_factory.mktemp("runtime-build")
    write_site(build_dir)
    return build_dir
