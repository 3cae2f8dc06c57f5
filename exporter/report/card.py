"""The model card: architecture, hyperparameters, data, versions and file hashes, and the model's
known limits, measured from the confusion matrix on the test set.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata as package_metadata
from pathlib import Path

import numpy as np

from exporter import site

CONFUSED_PAIRS_LISTED = 5
# Libraries of the verification itself; the build's are in metadata.json's "versions".
REPORT_PACKAGES = ("onnxruntime", "matplotlib", "playwright")


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Return the ``[true, predicted]`` matrix of image counts, int64 ``[classes, classes]``."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray, names: Sequence[str]) -> list[dict]:
    """Return each class's recall (correct / images of that class), in label order."""
    totals = matrix.sum(axis=1)
    return [
        {"label": names[index], "images": int(totals[index]), "accuracy": float(matrix[index, index] / max(totals[index], 1))}
        for index in range(len(names))
    ]


def most_confused_pairs(matrix: np.ndarray, names: Sequence[str], count: int = CONFUSED_PAIRS_LISTED) -> list[dict]:
    """Return the ``count`` largest off-diagonal cells: which true class is taken for which, how often."""
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(off_diagonal, axis=None, kind="stable")[::-1][:count]
    pairs = []
    for flat in order:
        true, predicted = np.unravel_index(flat, matrix.shape)
        if off_diagonal[true, predicted] == 0:
            break
        pairs.append(
            {
                "true": names[true],
                "predicted": names[predicted],
                "images": int(off_diagonal[true, predicted]),
                "share_of_true": float(off_diagonal[true, predicted] / matrix[true].sum()),
            }
        )
    return pairs


def architecture(model) -> list[dict]:
    """Return one row per Keras layer: name, type, output shape, activation and parameter count."""
    rows = []
    for layer in model.layers:
        activation = getattr(layer, "activation", None)
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": [None if size is None else int(size) for size in layer.output.shape],
                "activation": getattr(activation, "__name__", None),
                "parameters": int(layer.count_params()),
            }
        )
    return rows


def model_card(model, metadata: dict, out: Path, *, browser_version: str | None) -> dict:
    """Return the model card for the build in ``out``, from the Keras model and ``site/metadata.json``.

    File hashes are computed from the files on disk when the report is made, so they cover
    every model file in the site, quantized variants included.
    """
    site_dir = out / "site"
    files = site.file_digests(site_dir / site.MODELS_DIR, site_dir)
    versions = dict(metadata.get("versions", {}))
    for name in REPORT_PACKAGES:
        try:
            versions.setdefault(name, package_metadata.version(name))
        except package_metadata.PackageNotFoundError:
            pass
    if browser_version:
        versions["chromium"] = browser_version
    return {
        "name": model.name,
        "architecture": architecture(model),
        "parameters": int(model.count_params()),
        "training": metadata.get("training", {}),
        "dataset": metadata.get("dataset", {}),
        "input": metadata.get("input", {}),
        "output": metadata.get("output", {}),
        "versions": dict(sorted(versions.items())),
        "files": files,
        # Not in report.html: Keras writes the save time into model.keras, so its hash differs
        # between two builds whose site files are byte-identical.
        "keras_file": site.file_digests(out, out)["model.keras"],
    }


def known_limits(pairs: list[dict], classes: list[dict], test_accuracy: float) -> list[str]:
    """Return plain sentences on where the model is weak, from the measured figures."""
    limits = [
        f"Accuracy on the 10,000 Fashion-MNIST test images is {test_accuracy:.2%}; about one image in "
        f"{max(1, round(1 / max(1 - test_accuracy, 1e-9))):,} is misclassified.",
    ]
    for pair in pairs[:3]:
        limits.append(
            f"{pair['true']} is taken for {pair['predicted']} in {pair['images']:,} test images "
            f"({pair['share_of_true']:.1%} of all {pair['true']} images)."
        )
    weakest = min(classes, key=lambda row: row["accuracy"]) if classes else None
    if weakest:
        limits.append(f"The weakest class is {weakest['label']}, recognised in {weakest['accuracy']:.1%} of its test images.")
    limits += [
        "The model saw only centred 28×28 grayscale product photos, light garment on a dark background. "
        "Drawings and photos of other kinds are outside that distribution, and no figure in this "
        "report measures accuracy on them.",
        "Parity between runtimes is checked on the 10,000 test images only; inputs far from the data "
        "set are not covered by the gate.",
    ]
    return limits
