"""Classify images with an exported model.onnx through onnxruntime, with no TensorFlow.

    from exporter.runtime import Classifier
    classifier = Classifier.from_dir("build")   # a build folder, or its site/ folder
    print(classifier.predict("shoe.png").label)

``from_dir`` reads metadata.json, loads the ONNX model it names and checks that the two agree
before any prediction, so a mismatched folder fails at load time with every difference listed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
import onnxruntime

from exporter.contract import IMAGE_SIZE, INPUT_POLARITY, INPUT_RANGE
from exporter.runtime.preprocess import ImageSource, preprocess_image

METADATA_NAME = "metadata.json"
# onnxruntime reports a float32 tensor input or output with this type string.
ONNX_FLOAT32 = "tensor(float)"


class ModelDirError(ValueError):
    """A model folder without a readable metadata.json or ONNX model."""


class ModelMismatchError(ModelDirError):
    """A metadata.json that does not describe the ONNX model next to it."""

    def __init__(self, model_path: Path, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"{model_path}: the model does not match its metadata.json; rebuild the site "
            f"so that both come from one build:\n{lines}"
        )


@dataclass(frozen=True)
class Prediction:
    """The model's output for one image.

    Attributes:
        label: the most probable label.
        index: the position of ``label`` in ``labels`` and in the model's output.
        probability: the probability of ``label``, 0..1.
        probabilities: one probability per label, in the order of ``labels``.
        labels: every label the model knows, in output order.
    """

    label: str
    index: int
    probability: float
    probabilities: tuple[float, ...]
    labels: tuple[str, ...]

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """Return the ``k`` most probable (label, probability) pairs, most probable first.

        ``k`` larger than the number of labels returns all of them; ties keep label order.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        order = sorted(range(len(self.labels)), key=lambda i: -self.probabilities[i])
        return [(self.labels[i], self.probabilities[i]) for i in order[:k]]

    def to_dict(self) -> dict[str, Any]:
        """Return the prediction as a JSON-ready dict, probabilities keyed by label."""
        return {
            "label": self.label,
            "index": self.index,
            "probability": self.probability,
            "probabilities": dict(zip(self.labels, self.probabilities)),
        }


class Classifier:
    """An ONNX model and its labels, checked against each other, ready to predict."""

    def __init__(
        self,
        model_path: Path,
        metadata: dict[str, Any],
        metadata_path: Path | None = None,
    ) -> None:
        """Load ``model_path`` with onnxruntime on the CPU and check it against ``metadata``.

        Most callers want ``Classifier.from_dir``. ``metadata_path`` names the metadata file in
        error messages. Raises ModelDirError when the metadata lacks a field or the model
        cannot be loaded, and ModelMismatchError when the model disagrees with ``metadata``.
        """
        self.model_path = Path(model_path)
        self.metadata = metadata
        where = metadata_path if metadata_path is not None else METADATA_NAME
        self.labels: tuple[str, ...] = tuple(_require(metadata, "labels", list, where))
        self.input_name: str = _require(metadata, "input.name", str, where)
        self.output_name: str = _require(metadata, "output.name", str, where)
        self._session = _load_session(self.model_path)
        problems = _compare(self._session, metadata)
        if problems:
            raise ModelMismatchError(self.model_path, problems)

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str]) -> "Classifier":
        """Load the model of a build or site folder.

        Args:
            path: a site folder that contains metadata.json, or a build folder that contains
                site/metadata.json. The ONNX model is ``metadata["models"]["onnx"]``, a path
                relative to the folder of metadata.json.

        Raises:
            ModelDirError: no metadata.json, invalid JSON, missing fields, or a missing or
                unloadable ONNX file.
            ModelMismatchError: the metadata's input, output or labels disagree with the model.
        """
        metadata_path = find_metadata(path)
        try:
            metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelDirError(
                f"{metadata_path}: not a readable JSON file ({error}); rebuild the site"
            ) from None
        if not isinstance(metadata, dict):
            raise ModelDirError(f"{metadata_path}: expected a JSON object; rebuild the site")
        relative = _require(metadata, "models.onnx", str, metadata_path)
        return cls(metadata_path.parent / relative, metadata, metadata_path)

    @overload
    def predict(self, source: ImageSource) -> Prediction: ...

    @overload
    def predict(self, source: np.ndarray) -> Prediction | list[Prediction]: ...

    def predict(self, source: ImageSource | np.ndarray) -> Prediction | list[Prediction]:
        """Classify one image file, or one or more arrays that already follow the input contract.

        Args:
            source: a file path, the file's bytes or a PIL image, which is preprocessed as
                the page does it. Or a NumPy array that already follows the input contract and
                is not preprocessed: shape (28, 28) or (N, 28, 28), dtype uint8 or float,
                values 0..255, a light garment on a dark background (0 is background).

        Returns:
            one Prediction for a file, a PIL image or a (28, 28) array; a list of N for an
            (N, 28, 28) array.

        Raises:
            PreprocessError: the file is unreadable or the image is blank.
            ValueError: the array has the wrong shape, dtype or value range.
        """
        if isinstance(source, np.ndarray):
            batch = _check_array(source)
            predictions = self._run(batch)
            return predictions[0] if source.ndim == 2 else predictions
        return self._run(preprocess_image(source)[None])[0]

    def _run(self, batch: np.ndarray) -> list[Prediction]:
        """Run a float32 (N, 28, 28) batch through the model."""
        if len(batch) == 0:
            return []
        (probabilities,) = self._session.run([self.output_name], {self.input_name: batch})
        assert probabilities.shape == (len(batch), len(self.labels)), probabilities.shape
        return [self._prediction(row) for row in probabilities.astype(np.float64)]

    def _prediction(self, row: np.ndarray) -> Prediction:
        index = int(np.argmax(row))
        return Prediction(
            label=self.labels[index],
            index=index,
            probability=float(row[index]),
            probabilities=tuple(float(p) for p in row),
            labels=self.labels,
        )


def find_metadata(path: str | os.PathLike[str]) -> Path:
    """Return the metadata.json of a site folder, or of the site/ folder inside a build folder."""
    folder = Path(path)
    expected = f"pass a build folder (with site/{METADATA_NAME}) or a site folder (with {METADATA_NAME})"
    if folder.is_file():
        raise ModelDirError(f"{folder} is a file, not a folder; {expected}")
    if not folder.is_dir():
        raise ModelDirError(f"{folder}: model folder does not exist; {expected}")
    for candidate in (folder / METADATA_NAME, folder / "site" / METADATA_NAME):
        if candidate.is_file():
            return candidate
    raise ModelDirError(
        f"{folder}: no {METADATA_NAME} here or in {folder / 'site'}; pass a build folder "
        "or a site folder, or run `python -m exporter build` first"
    )


def _require(metadata: dict[str, Any], dotted: str, kind: type, metadata_path: os.PathLike[str] | str) -> Any:
    """Return metadata[a][b] for ``dotted`` "a.b", or raise ModelDirError naming the file and key."""
    value: Any = metadata
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise ModelDirError(f"{metadata_path}: no {dotted!r}; rebuild the site")
        value = value[key]
    if not isinstance(value, kind):
        raise ModelDirError(
            f"{metadata_path}: {dotted!r} should be a {kind.__name__}, "
            f"got {value!r}; rebuild the site"
        )
    return value


def _load_session(model_path: Path) -> onnxruntime.InferenceSession:
    if not model_path.is_file():
        raise ModelDirError(
            f"{model_path}: ONNX model not found (metadata.json names it under "
            "models.onnx); rebuild the site"
        )
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: keep onnxruntime's warnings out of CLI output
    try:
        return onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own unexported exception types
        raise ModelDirError(
            f"{model_path}: onnxruntime cannot load the model ({error}); rebuild the site"
        ) from None


def _compare(session: onnxruntime.InferenceSession, metadata: dict[str, Any]) -> list[str]:
    """Collect every difference between the model's graph and its metadata.json."""
    problems: list[str] = []
    labels = metadata["labels"]
    input_meta, output_meta = metadata["input"], metadata["output"]
    inputs = {node.name: node for node in session.get_inputs()}
    outputs = {node.name: node for node in session.get_outputs()}

    if len(inputs) != 1:
        problems.append(f"the model has {len(inputs)} inputs {sorted(inputs)}, expected 1")
    node = inputs.get(input_meta["name"])
    if node is None:
        problems.append(f"input {input_meta['name']!r} is not in the model, which has {sorted(inputs)}")
    else:
        problems += _compare_shape("input", node.shape, input_meta.get("shape"))
        if node.type != ONNX_FLOAT32:
            problems.append(f"input {node.name!r} has type {node.type}, expected {ONNX_FLOAT32}")

    # This runtime's preprocessing produces the contract's tensor, so the metadata must ask for it.
    expected_input = {
        "shape": [None, IMAGE_SIZE, IMAGE_SIZE],
        "dtype": "float32",
        "range": list(INPUT_RANGE),
        "polarity": INPUT_POLARITY,
    }
    for key, expected in expected_input.items():
        actual = input_meta.get(key)
        if actual is not None and actual != expected:
            problems.append(f"metadata input.{key} is {actual!r}, this runtime produces {expected!r}")

    node = outputs.get(output_meta["name"])
    if node is None:
        problems.append(
            f"output {output_meta['name']!r} is not in the model, which has {sorted(outputs)}"
        )
    else:
        problems += _compare_shape("output", node.shape, output_meta.get("shape"))
        size = node.shape[-1] if node.shape else None
        if isinstance(size, int) and size != len(labels):
            problems.append(f"metadata has {len(labels)} labels, the model outputs {size} values")
    if not all(isinstance(label, str) for label in labels):
        problems.append(f"labels should all be strings, got {labels!r}")
    return problems


def _compare_shape(role: str, graph_shape: list[Any], meta_shape: Any) -> list[str]:
    """Compare a graph shape (ints, or strings/None for free axes) with a metadata shape."""
    if not isinstance(meta_shape, list):
        return [f"metadata {role}.shape is {meta_shape!r}, expected a list"]
    graph = [dim if isinstance(dim, int) else None for dim in graph_shape]
    if graph != meta_shape:
        return [f"{role} shape is {graph} in the model, {meta_shape} in metadata.json"]
    return []


def _check_array(array: np.ndarray) -> np.ndarray:
    """Validate an array against the input contract and return it as float32 (N, 28, 28)."""
    size = (IMAGE_SIZE, IMAGE_SIZE)
    if array.ndim not in (2, 3) or array.shape[-2:] != size:
        raise ValueError(
            f"expected an array of shape (28, 28) or (N, 28, 28), got {array.shape}; "
            "pass a file path to have the image preprocessed"
        )
    if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"expected dtype uint8 or a float dtype such as float32, got {array.dtype}")
    batch = np.asarray(array, dtype=np.float32).reshape((-1,) + size)
    if not np.isfinite(batch).all():
        raise ValueError("expected finite values in 0..255, got NaN or infinity")
    if batch.size and (batch.min() < 0 or batch.max() > 255):
        raise ValueError(
            "expected values in 0..255 (raw 8-bit intensities, light garment on dark), "
            f"got min {batch.min()}, max {batch.max()}"
        )
    return batch
