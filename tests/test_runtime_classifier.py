"""Classifier loads a model folder, checks it against metadata.json and predicts with onnxruntime."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from exporter import contract
from exporter.runtime import (
    Classifier,
    ModelDirError,
    ModelMismatchError,
    Prediction,
    UnreadableImageError,
    preprocess_image,
)
from tests.runtime_fixtures import (
    centroid_weights,
    load_images,
    load_labels,
    make_metadata,
    make_model,
    model_build,  # noqa: F401  (fixture)
    variant,
    write_site,
)

REPO = Path(__file__).resolve().parents[1]
HEAVY_MODULES = ("tensorflow", "keras", "tf2onnx", "tensorflowjs")


def reference_probabilities(images: np.ndarray) -> np.ndarray:
    """Compute the centroid model's softmax in NumPy, float64, as the parity reference."""
    weights, bias = centroid_weights()
    logits = images.reshape(len(images), -1).astype(np.float64) @ weights.astype(np.float64) + bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_classifier_build_and_site_folders_agree(model_build):
    image = load_images()[3]

    from_build = Classifier.from_dir(model_build).predict(image)
    from_site = Classifier.from_dir(model_build / "site").predict(image)

    assert from_build == from_site
    assert Classifier.from_dir(str(model_build)).labels == contract.LABELS


def test_classifier_parity_with_numpy_reference(model_build):
    """onnxruntime's probabilities match the NumPy computation within 1e-5, with the same argmax."""
    images = load_images()[:500]

    predictions = Classifier.from_dir(model_build).predict(images)

    expected = reference_probabilities(images)
    actual = np.array([p.probabilities for p in predictions])
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    assert [p.index for p in predictions] == list(expected.argmax(axis=1))


def test_classifier_real_images_beat_chance(model_build):
    """The centroid model classifies real test images well above the 10 % of chance."""
    images, labels = load_images()[:1000], load_labels()[:1000]

    predictions = Classifier.from_dir(model_build).predict(images)

    accuracy = np.mean([p.index for p in predictions] == labels)
    assert accuracy > 0.6


def test_classifier_predict_file_forms_agree(model_build, tmp_path):
    classifier = Classifier.from_dir(model_build)
    image = load_images()[7]
    path = tmp_path / "shirt.png"
    path.write_bytes(png_bytes(image))

    from_path = classifier.predict(path)

    assert from_path == classifier.predict(str(path))
    assert from_path == classifier.predict(path.read_bytes())
    assert from_path == classifier.predict(Image.open(path))
    assert from_path == classifier.predict(preprocess_image(path))


def test_classifier_predict_array_forms(model_build):
    classifier = Classifier.from_dir(model_build)
    images = load_images()[:4]

    batch = classifier.predict(images)
    single = classifier.predict(images[2])

    assert isinstance(batch, list) and len(batch) == 4
    assert isinstance(single, Prediction)
    assert single == batch[2]
    assert classifier.predict(images.astype(np.float32)) == batch
    assert classifier.predict(images.astype(np.float64)) == batch
    assert classifier.predict(images[:0]) == []


def test_prediction_fields_consistent(model_build):
    prediction = Classifier.from_dir(model_build).predict(load_images()[1])

    assert prediction.labels == contract.LABELS
    assert len(prediction.probabilities) == len(contract.LABELS)
    assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert prediction.label == contract.LABELS[prediction.index]
    assert prediction.probability == max(prediction.probabilities)
    assert prediction.probability == prediction.probabilities[prediction.index]


def test_prediction_top_sorted_and_bounded(model_build):
    prediction = Classifier.from_dir(model_build).predict(load_images()[1])

    top3 = prediction.top(3)

    assert top3[0] == (prediction.label, prediction.probability)
    assert [p for _, p in top3] == sorted((p for _, p in top3), reverse=True)
    assert len(prediction.top(100)) == len(contract.LABELS)
    assert sorted(label for label, _ in prediction.top(10)) == sorted(contract.LABELS)
    with pytest.raises(ValueError, match="at least 1"):
        prediction.top(0)


def test_prediction_to_dict_is_json(model_build):
    prediction = Classifier.from_dir(model_build).predict(load_images()[1])

    document = json.loads(json.dumps(prediction.to_dict()))

    assert document["label"] == prediction.label
    assert document["index"] == prediction.index
    assert list(document["probabilities"]) == list(contract.LABELS)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((28, 27), np.uint8), "shape"),
        (np.zeros((1, 1, 28, 28), np.uint8), "shape"),
        (np.zeros(784, np.uint8), "shape"),
        (np.zeros((28, 28), np.int64), "dtype"),
        (np.full((28, 28), 256.0, np.float32), "0..255"),
        (np.full((28, 28), -1.0, np.float32), "0..255"),
        (np.full((28, 28), np.nan, np.float32), "finite"),
    ],
    ids=["28x27", "4-d", "flat", "int64", "above-255", "negative", "nan"],
)
def test_classifier_array_contract_rejected(model_build, array, message):
    with pytest.raises(ValueError, match=message):
        Classifier.from_dir(model_build).predict(array)


def test_classifier_unreadable_file_raises(model_build, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not a picture")

    with pytest.raises(UnreadableImageError, match="notes.png"):
        Classifier.from_dir(model_build).predict(path)


def break_folder(build_dir: Path, case: str) -> Path:
    """Create a model folder broken in the way ``case`` names; return the path to load."""
    site = write_site(build_dir)
    if case == "missing folder":
        return build_dir / "nowhere"
    if case == "file, not folder":
        return site / "metadata.json"
    if case == "no metadata":
        (site / "metadata.json").unlink()
    elif case == "invalid JSON":
        (site / "metadata.json").write_text("{labels: [", encoding="utf-8")
    elif case == "JSON list":
        (site / "metadata.json").write_text("[]", encoding="utf-8")
    elif case == "no models.onnx":
        write_site(build_dir, metadata=variant(make_metadata(), "models", {}))
    elif case == "no input.name":
        write_site(build_dir, metadata=variant(make_metadata(), "input", {"shape": [None, 28, 28]}))
    elif case == "labels not a list":
        write_site(build_dir, metadata=variant(make_metadata(), "labels", "T-shirt/top"))
    elif case == "ONNX file missing":
        (site / "models" / "model.onnx").unlink()
    elif case == "ONNX file corrupt":
        (site / "models" / "model.onnx").write_bytes(b"\x08\x07garbage" * 10)
    return build_dir


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing folder", "does not exist"),
        ("file, not folder", "metadata.json is a file, not a folder; pass a build folder"),
        ("no metadata", "no metadata.json"),
        ("invalid JSON", "not a readable JSON file"),
        ("JSON list", "expected a JSON object"),
        ("no models.onnx", "'models.onnx'"),
        ("no input.name", "'input.name'"),
        ("labels not a list", "'labels' should be a list"),
        ("ONNX file missing", "ONNX model not found"),
        ("ONNX file corrupt", "onnxruntime cannot load the model"),
    ],
)
def test_classifier_bad_folder_rejected(tmp_path, case, message):
    path = break_folder(tmp_path / "build", case)

    with pytest.raises(ModelDirError, match=message) as caught:
        Classifier.from_dir(path)
    assert not isinstance(caught.value, ModelMismatchError)


@pytest.mark.parametrize("case", ["no models.onnx", "no input.name", "labels not a list"])
def test_classifier_metadata_error_names_metadata_file(tmp_path, case):
    """A problem inside metadata.json names that file, not the ONNX model it points to."""
    path = break_folder(tmp_path / "build", case)

    with pytest.raises(ModelDirError) as caught:
        Classifier.from_dir(path)

    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'build' / 'site' / 'metadata.json'}: ")
    assert "model.onnx" not in message


@pytest.mark.parametrize(
    ("metadata_change", "model_change", "message"),
    [
        (("input.name", "pixels"), {}, "input 'pixels' is not in the model"),
        (("output.name", "scores"), {}, "output 'scores' is not in the model"),
        (("labels", list(contract.LABELS[:9])), {}, "9 labels, the model outputs 10"),
        (("input.shape", [None, 28, 29]), {}, "input shape is [None, 28, 28] in the model, [None, 28, 29]"),
        (("output.shape", [None, 9]), {}, "output shape is [None, 10] in the model, [None, 9]"),
        (("input.polarity", "dark-on-light"), {}, "input.polarity is 'dark-on-light'"),
        (("input.range", [0, 1]), {}, "input.range is [0, 1]"),
        (("input.dtype", "uint8"), {}, "input.dtype is 'uint8'"),
        (None, {"input_name": "input_1"}, "input 'image' is not in the model, which has ['input_1']"),
        (None, {"output_name": "dense_2"}, "output 'probabilities' is not in the model"),
        (None, {"outputs": 11}, "10 labels, the model outputs 11"),
        (None, {"image_size": 32}, "input shape is [None, 32, 32] in the model"),
    ],
)
def test_classifier_mismatch_rejected(tmp_path, metadata_change, model_change, message):
    metadata = variant(make_metadata(), *metadata_change) if metadata_change else make_metadata()
    write_site(tmp_path, metadata=metadata, model=make_model(**model_change))

    with pytest.raises(ModelMismatchError) as caught:
        Classifier.from_dir(tmp_path)
    assert any(message in problem for problem in caught.value.problems), caught.value.problems
    assert message in str(caught.value)


def test_classifier_mismatch_lists_every_problem(tmp_path):
    metadata = variant(variant(make_metadata(), "input.name", "pixels"), "labels", ["a", "b"])
    write_site(tmp_path, metadata=metadata, model=make_model(output_name="logits_out"))

    with pytest.raises(ModelMismatchError) as caught:
        Classifier.from_dir(tmp_path)
    problems = caught.value.problems
    assert len(problems) == 2, problems
    assert "input 'pixels'" in problems[0]
    assert "output 'probabilities'" in problems[1]


def test_runtime_imports_no_tensorflow(model_build, tmp_path):
    """A fresh interpreter imports the runtime, classifies a file, and has loaded no TensorFlow."""
    path = tmp_path / "sandal.png"
    path.write_bytes(png_bytes(load_images()[8]))
    script = textwrap.dedent(
        f"""
        import sys
        from exporter.runtime import Classifier
        prediction = Classifier.from_dir({str(model_build)!r}).predict({str(path)!r})
        print(prediction.label)
        print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY_MODULES!r})))
        """
    )

    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )

    label, heavy = completed.stdout.splitlines()
    assert label in contract.LABELS
    assert heavy == ""
