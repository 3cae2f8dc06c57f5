"""Compose ``metadata.json``: the contract, where each model is, how it was made and how well it does.

The page and embedding programs read the input contract, labels and model paths from it. Apart
from the ``build`` entry it contains no timestamps, so a rebuild from the same inputs gives the
same bytes.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata as package_metadata
from pathlib import Path

from exporter import contract, site
from exporter.export.onnx_export import BATCH_AXIS

FORMAT_VERSION = 1
PYTHON_PACKAGES = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "tensorflowjs", "numpy")
NPM_PACKAGES = ("onnxruntime-web", "@tensorflow/tfjs")


def build_metadata(
    *,
    config,
    dataset,
    history,
    test_accuracy: float,
    parity: list,
    onnx_model,
    files: dict[str, dict],
    keras_file: dict,
    web_dir: Path,
    samples: int,
) -> dict:
    """Return the metadata document for one build."""
    return {
        "format_version": FORMAT_VERSION,
        **contract.describe(),
        "models": {
            "onnx": site.ONNX_PATH,
            "tfjs_graph": f"{site.TFJS_GRAPH_DIR}/model.json",
            "tfjs_layers": f"{site.TFJS_LAYERS_DIR}/model.json",
        },
        "samples": site.SAMPLES_INDEX,
        "sample_count": samples,
        "onnx": {
            "opset": max(entry.version for entry in onnx_model.opset_import if entry.domain in ("", "ai.onnx")),
            "ir_version": onnx_model.ir_version,
            "batch_axis": BATCH_AXIS,
        },
        "test_accuracy": round(test_accuracy, 6),
        "final_epoch": {key: value for key, value in vars(history[-1]).items() if key != "seconds"},
        "parity": [report.as_dict() for report in parity],
        "training": config.as_dict(),
        "dataset": {
            "name": "Fashion-MNIST",
            "train_images": int(len(dataset.train_images)),
            "test_images": int(len(dataset.test_images)),
            "md5_uncompressed": dict(sorted(dataset.md5.items())),
        },
        "versions": {
            "python": platform.python_version(),
            **{name: package_metadata.version(name) for name in PYTHON_PACKAGES},
            **_npm_versions(web_dir),
        },
        "files": files,
        # The only part that differs between two builds from the same inputs: Keras writes
        # the save time and Python object ids into model.keras.
        "build": {"keras_file": {"path": "model.keras", "location": "build folder, beside site/", **keras_file}},
    }


def _npm_versions(web_dir: Path) -> dict[str, str]:
    lock = web_dir / "package-lock.json"
    if not lock.is_file():
        return {}
    packages = json.loads(lock.read_text()).get("packages", {})
    found = {}
    for name in NPM_PACKAGES:
        entry = packages.get(f"node_modules/{name}")
        if entry:
            found[name] = entry["version"]
    return found
