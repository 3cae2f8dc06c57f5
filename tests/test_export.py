"""The exports load in their real runtimes and compute what Keras computes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

from exporter import data
from exporter.export.tfjs_layers_topology import to_tfjs_topology

NODE_DIR = Path(__file__).resolve().parent / "node"
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def test_images(fashion_mnist_dir):
    dataset = data.load(fashion_mnist_dir, log=lambda line: None)
    return dataset.test_images[:64].astype(np.float32)


@pytest.fixture(scope="module")
def keras_probabilities(short_build, test_images):
    import keras

    model = keras.models.load_model(short_build / "model.keras")
    return model.predict(test_images, verbose=0)


def run_tfjs_in_node(kind: str, model_json: Path, images: np.ndarray, tmp_path: Path) -> np.ndarray:
    """Predict with the real @tensorflow/tfjs in Node; raise with Node's stderr on failure."""
    if not (NODE_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        pytest.fail(f"TF.js is not installed for the Node checks; run `npm ci --prefix {NODE_DIR}`")
    request = tmp_path / f"{kind}-input.json"
    request.write_text(json.dumps({"shape": list(images.shape), "data": images.ravel().tolist()}))
    result = subprocess.run(
        ["node", str(NODE_DIR / "predict.mjs"), kind, str(model_json), str(request)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip() or f"node exited with {result.returncode}")
    return np.asarray(json.loads(result.stdout)["probabilities"], dtype=np.float32)


@pytest.mark.node
@pytest.mark.parametrize(("kind", "relative"), [("layers", "tfjs-layers"), ("graph", "tfjs-graph")])
def test_export_tfjs_matches_keras_in_node(short_build, test_images, keras_probabilities, tmp_path, kind, relative):
    model_json = short_build / "site" / "models" / relative / "model.json"
    probabilities = run_tfjs_in_node(kind, model_json, test_images, tmp_path)
    assert probabilities.shape == keras_probabilities.shape
    assert np.abs(probabilities - keras_probabilities).max() <= TOLERANCE
    assert (probabilities.argmax(1) == keras_probabilities.argmax(1)).all()


@pytest.mark.node
def test_export_unconverted_keras3_layers_json_fails_in_node(short_build, test_images, tmp_path):
    """The converter's own Keras 3 model.json is rejected by TF.js, which is why it is rewritten."""
    import keras
    import tensorflowjs

    model = keras.models.load_model(short_build / "model.keras")
    folder = tmp_path / "raw-layers"
    tensorflowjs.converters.save_keras_model(model, str(folder))
    with pytest.raises(RuntimeError, match="batchInputShape|inputShape"):
        run_tfjs_in_node("layers", folder / "model.json", test_images[:2], tmp_path)


def test_export_onnx_contract(short_build):
    model = onnx.load(short_build / "site" / "models" / "model.onnx")
    onnx.checker.check_model(model, full_check=True)
    assert [value.name for value in model.graph.input] == ["image"]
    assert [value.name for value in model.graph.output] == ["probabilities"]
    input_dims = model.graph.input[0].type.tensor_type.shape.dim
    assert input_dims[0].dim_param == "batch"
    assert [dim.dim_value for dim in input_dims[1:]] == [28, 28]
    metadata = json.loads((short_build / "site" / "metadata.json").read_text())
    assert metadata["onnx"]["ir_version"] == model.ir_version == 8
    assert metadata["onnx"]["opset"] == 17


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_export_onnx_any_batch_size(short_build, test_images, keras_probabilities, batch):
    session = onnxruntime.InferenceSession(str(short_build / "site" / "models" / "model.onnx"))
    (probabilities,) = session.run(None, {"image": test_images[:batch]})
    assert probabilities.shape == (batch, 10)
    assert np.abs(probabilities - keras_probabilities[:batch]).max() <= TOLERANCE


KERAS3_TOPOLOGY = {
    "keras_version": "3.15.1",
    "backend": "tensorflow",
    "model_config": {
        "class_name": "Functional",
        "config": {
            "name": "m",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "name": "image",
                    "inbound_nodes": [],
                    "config": {"batch_shape": [None, 28, 28], "dtype": "float32", "name": "image", "optional": False},
                },
                {
                    "class_name": "Dense",
                    "name": "probabilities",
                    "config": {
                        "name": "probabilities",
                        "units": 10,
                        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None},
                        "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": None}, "registered_name": None},
                        "quantization_config": None,
                    },
                    "inbound_nodes": [
                        {
                            "args": [{"class_name": "__keras_tensor__", "config": {"shape": [None, 784], "dtype": "float32", "keras_history": ["image", 0, 0]}}],
                            "kwargs": {"training": False},
                        }
                    ],
                },
            ],
            "input_layers": ["image", 0, 0],
            "output_layers": ["probabilities", 0, 0],
        },
    },
}


def test_export_topology_input_layer_shape():
    layers = to_tfjs_topology(KERAS3_TOPOLOGY)["model_config"]["config"]["layers"]
    assert layers[0]["config"]["batch_input_shape"] == [None, 28, 28]
    assert "batch_shape" not in layers[0]["config"]
    assert "optional" not in layers[0]["config"]


def test_export_topology_dtype_and_module_keys():
    dense = to_tfjs_topology(KERAS3_TOPOLOGY)["model_config"]["config"]["layers"][1]["config"]
    assert dense["dtype"] == "float32"
    assert dense["kernel_initializer"] == {"class_name": "GlorotUniform", "config": {"seed": None}}
    assert "quantization_config" not in dense


def test_export_topology_inbound_nodes_and_io_layers():
    config = to_tfjs_topology(KERAS3_TOPOLOGY)["model_config"]["config"]
    assert config["layers"][1]["inbound_nodes"] == [[["image", 0, 0, {"training": False}]]]
    assert config["input_layers"] == [["image", 0, 0]]
    assert config["output_layers"] == [["probabilities", 0, 0]]


def test_export_topology_leaves_input_untouched():
    before = json.dumps(KERAS3_TOPOLOGY, sort_keys=True)
    to_tfjs_topology(KERAS3_TOPOLOGY)
    assert json.dumps(KERAS3_TOPOLOGY, sort_keys=True) == before
