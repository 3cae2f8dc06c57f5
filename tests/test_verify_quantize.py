"""Quantized variants: each one is written, loads and runs in its runtime outside the browser, and
the accuracy floor gates it. The browser runs are in test_verify_report.py.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from exporter import data, verify
from exporter.export import quantize
from exporter.verify import MAX_ACCURACY_DROP, VariantReport, compare_variant
from tests.test_export import run_tfjs_in_node

ONNX_VARIANTS = [variant for variant in quantize.QUANTIZED_VARIANTS if variant.backend == "ort"]
TFJS_VARIANTS = [variant for variant in quantize.QUANTIZED_VARIANTS if variant.backend != "ort"]
NODE_IMAGES = 200  # TF.js in Node reads its input as JSON, so keep it small


@pytest.fixture(scope="module")
def variant_site(short_build, tmp_path_factory):
    """A copy of the short build's site with every quantized variant written into it."""
    site_dir = tmp_path_factory.mktemp("variants") / "site"
    shutil.copytree(short_build / "site", site_dir)
    quantize.export_variants(site_dir)
    return site_dir


@pytest.fixture(scope="module")
def test_set(fashion_mnist_dir):
    dataset = data.load(fashion_mnist_dir, log=lambda line: None)
    return dataset.test_images, dataset.test_labels


@pytest.fixture(scope="module")
def onnx_float32(variant_site, test_set):
    return verify.onnxruntime_probabilities(variant_site / quantize.FLOAT32_VARIANTS[0].path, test_set[0])


def test_quantize_writes_every_variant(variant_site):
    for variant in quantize.QUANTIZED_VARIANTS:
        for path in quantize.variant_files(variant_site, variant):
            assert path.is_file(), f"{variant.name}: {path} is missing"


@pytest.mark.parametrize("variant", quantize.QUANTIZED_VARIANTS, ids=lambda variant: variant.name)
def test_quantize_variant_is_smaller(variant_site, variant):
    float32 = next(item for item in quantize.FLOAT32_VARIANTS if item.name == variant.float32)
    variant_bytes, variant_gzip = quantize.variant_size(variant_site, variant)
    float32_bytes, float32_gzip = quantize.variant_size(variant_site, float32)
    limit = 0.3 if variant.weights in ("int8", "uint8") else 0.55  # a quarter or a half, plus headers
    assert variant_bytes < limit * float32_bytes
    assert variant_gzip < float32_gzip


@pytest.mark.parametrize("variant", ONNX_VARIANTS, ids=lambda variant: variant.name)
def test_quantize_onnx_variant_runs_in_onnxruntime(variant_site, test_set, onnx_float32, variant):
    images, labels = test_set
    probabilities = verify.onnxruntime_probabilities(variant_site / variant.path, images)
    report = compare_variant(variant.name, "onnxruntime", onnx_float32, probabilities, labels, size=(1, 1))
    assert probabilities.shape == (len(images), 10)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
    assert report.failures() == []
    assert report.argmax_agreement > 0.99
    assert report.max_abs_diff > 0  # it really is a different model


def test_quantize_onnx_float16_keeps_float32_io(variant_site):
    import onnx

    model = onnx.load(str(variant_site / quantize.ONNX_FLOAT16_PATH))
    float16 = onnx.TensorProto.FLOAT16
    assert [value.type.tensor_type.elem_type for value in model.graph.input] == [onnx.TensorProto.FLOAT]
    assert [value.type.tensor_type.elem_type for value in model.graph.output] == [onnx.TensorProto.FLOAT]
    assert any(tensor.data_type == float16 for tensor in model.graph.initializer)


@pytest.mark.parametrize("variant", TFJS_VARIANTS, ids=lambda variant: variant.name)
def test_quantize_tfjs_manifest_names_dtype(variant_site, variant):
    manifest = json.loads((variant_site / variant.path).read_text())["weightsManifest"]
    entries = [entry for group in manifest for entry in group["weights"]]
    float_entries = [entry for entry in entries if entry["dtype"] == "float32"]
    assert len(float_entries) >= 6  # kernel and bias of three Dense layers, and the scaling constants
    assert {entry["quantization"]["dtype"] for entry in float_entries} == {variant.weights}
    assert all("quantization" not in entry for entry in entries if entry["dtype"] != "float32")


@pytest.mark.node
@pytest.mark.parametrize("variant", TFJS_VARIANTS, ids=lambda variant: variant.name)
def test_quantize_tfjs_variant_runs_in_node(variant_site, test_set, onnx_float32, variant, tmp_path):
    images, labels = test_set
    subset = images[:NODE_IMAGES].astype(np.float32)
    float32 = run_tfjs_in_node("graph", variant_site / quantize.FLOAT32_VARIANTS[1].path, subset, tmp_path)
    probabilities = run_tfjs_in_node("graph", variant_site / variant.path, subset, tmp_path)
    assert probabilities.shape == (NODE_IMAGES, 10)
    assert (probabilities.argmax(axis=1) == float32.argmax(axis=1)).mean() >= 0.98
    assert 0 < np.abs(probabilities - float32).max() < 0.1


def test_quantize_tfjs_rejects_unknown_dtype(variant_site, tmp_path):
    with pytest.raises(ValueError, match="uint8 or float16"):
        quantize.quantize_tfjs_weights(variant_site / quantize.site.TFJS_GRAPH_DIR, tmp_path / "out", "int4")


def _report(correct: int, float32_correct: int, images: int = 10_000) -> VariantReport:
    return VariantReport(
        variant="v", runtime="r", images=images, bytes=1, gzip_bytes=1,
        accuracy=correct / images, float32_accuracy=float32_correct / images,
        argmax_agreement=1.0, max_abs_diff=0.0,
    )


@pytest.mark.parametrize(
    ("correct", "float32_correct", "passes"),
    [(8_500, 8_500, True), (8_450, 8_500, True), (8_449, 8_500, False), (8_600, 8_500, True), (0, 8_500, False)],
)
def test_quantize_accuracy_floor(correct, float32_correct, passes):
    assert MAX_ACCURACY_DROP == 0.005
    failures = _report(correct, float32_correct).failures()
    assert (failures == []) == passes
    if not passes:
        assert "below the floor" in failures[0]
