"""Draw the report's figures as PNG files with matplotlib's Agg backend (no display needed).

- ``plot_history``: training and validation loss and accuracy per epoch, from ``history.json``.
- ``plot_confusion``: the test-set confusion matrix, true class by row, with class names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

DPI = 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display; must be chosen before pyplot is imported
    from matplotlib import pyplot

    return pyplot


def plot_history(epochs: Sequence[dict], path: Path) -> Path:
    """Plot loss and accuracy per epoch for the training and validation sets; write ``path``.

    ``epochs`` are the records of ``history.json``: ``epoch``, ``loss``, ``accuracy``,
    ``val_loss`` and ``val_accuracy``.
    """
    pyplot = _pyplot()
    numbers = [record["epoch"] for record in epochs]
    figure, (loss_axes, accuracy_axes) = pyplot.subplots(1, 2, figsize=(10, 4), dpi=DPI)
    for axes, key, title in ((loss_axes, "loss", "Cross-entropy loss"), (accuracy_axes, "accuracy", "Accuracy")):
        axes.plot(numbers, [record[key] for record in epochs], marker="o", label="training")
        axes.plot(numbers, [record[f"val_{key}"] for record in epochs], marker="o", label="validation")
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.set_xticks(numbers if len(numbers) <= 15 else numbers[:: max(1, len(numbers) // 10)])
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    pyplot.close(figure)
    return path


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path) -> Path:
    """Plot ``matrix`` ``[true, predicted]`` of image counts with ``labels`` on both axes; write ``path``."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(8, 7), dpi=DPI)
    image = axes.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(labels))
    axes.set_xticks(ticks, labels=labels, rotation=45, ha="right")
    axes.set_yticks(ticks, labels=labels)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    threshold = matrix.max() / 2
    for row in range(matrix.shape[0]):
        for column in range(matrix.shape[1]):
            count = int(matrix[row, column])
            colour = "white" if count > threshold else "black"
            axes.text(column, row, f"{count:,}", ha="center", va="center", fontsize=8, color=colour)
    figure.colorbar(image, ax=axes, label="test images")
    axes.set_title(f"Confusion matrix on {int(matrix.sum()):,} test images")
    figure.tight_layout()
    figure.savefig(path, format="png")
    pyplot.close(figure)
    return path
