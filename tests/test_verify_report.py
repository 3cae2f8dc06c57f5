"""``verify`` on a real short build: the report it writes, its plots and page, and how a broken
export fails it. Each test works on a copy of the shared short build, because verify writes into it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from exporter import cli
from exporter.contract import LABELS
from exporter.export import quantize
from exporter.report import html
from exporter.report.run import BuildFolderError, choose_default, verify_build
from exporter.verify import ParityError, VariantReport

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BROWSER_RUNTIMES = ["onnxruntime-web", "tfjs-graph", "tfjs-layers"]


def quiet(line: str) -> None:
    pass


def copy_build(short_build, folder):
    """Copy the read-only short build to ``folder / "build"`` and return the copy."""
    target = folder / "build"
    shutil.copytree(short_build, target)
    return target


def corrupt_onnx_weight(path, delta: float = 0.5) -> None:
    """Add ``delta`` to one bias of the output layer, the only initializer with 10 values."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    for index, tensor in enumerate(model.graph.initializer):
        values = numpy_helper.to_array(tensor)
        if values.shape == (len(LABELS),) and values.dtype == np.float32:
            values = values.copy()
            values[0] += delta
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(values, tensor.name))
            onnx.save(model, str(path))
            return
    raise AssertionError(f"{path} has no float32 initializer of shape ({len(LABELS)},)")


@pytest.fixture(scope="module")
def python_verified(short_build, fashion_mnist_dir, tmp_path_factory):
    """A copy of the short build with variants, verified without the browser."""
    out = copy_build(short_build, tmp_path_factory.mktemp("verify-python"))
    quantize.export_variants(out / "site")
    result = verify_build(out, data_dir=fashion_mnist_dir, browser=False, log=quiet)
    return out, result


@pytest.fixture(scope="module")
def browser_verified(short_build, fashion_mnist_dir, tmp_path_factory):
    """A copy of the short build with variants, verified in every runtime including Chromium."""
    out = copy_build(short_build, tmp_path_factory.mktemp("verify-browser"))
    quantize.export_variants(out / "site")
    result = verify_build(out, data_dir=fashion_mnist_dir, browser=True, log=quiet)
    return out, result


def test_verify_without_browser_writes_report(python_verified):
    out, result = python_verified
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == 10_000
    assert [row["runtime"] for row in report["runtimes"]] == ["onnxruntime"]
    assert {row["variant"] for row in report["variants"]} == {"onnx-int8", "onnx-float16"}
    assert report["failures"] == [] == result.failures
    assert any("--no-browser" in reason for reason in report["skipped"])
    assert report["default_variant"] == "onnx-float32"


def test_verify_report_runtime_figures(python_verified):
    out, _ = python_verified
    row = json.loads((out / "report.json").read_text())["runtimes"][0]
    metadata = json.loads((out / "site" / "metadata.json").read_text())
    assert row["max_abs_diff"] <= 1e-5
    assert row["argmax_agreement"] == 1.0
    assert row["disagreeing_indices"] == []
    assert row["reference_accuracy"] == pytest.approx(metadata["test_accuracy"], abs=1e-6)


def test_verify_report_confusion_matrix(python_verified):
    out, _ = python_verified
    report = json.loads((out / "report.json").read_text())
    counts = np.asarray(report["confusion_matrix"]["counts"])
    assert counts.shape == (10, 10)
    assert counts.sum() == 10_000
    assert (counts.sum(axis=1) == 1_000).all()  # the test set has 1,000 images per class
    assert np.trace(counts) / 10_000 == pytest.approx(report["test_accuracy"])
    worst = report["most_confused"][0]
    assert counts[LABELS.index(worst["true"]), LABELS.index(worst["predicted"])] == worst["images"]
    assert worst["true"] != worst["predicted"]


def test_verify_report_plots_are_png(python_verified):
    out, _ = python_verified
    for name in ("history.png", "confusion.png"):
        blob = (out / "site" / "report" / name).read_bytes()
        assert blob.startswith(PNG_MAGIC), name
        assert len(blob) > 10_000, name


def test_verify_report_model_card(python_verified):
    out, _ = python_verified
    card = json.loads((out / "report.json").read_text())["model_card"]
    metadata = json.loads((out / "site" / "metadata.json").read_text())
    dense = [layer for layer in card["architecture"] if layer["type"] == "Dense"]
    assert [layer["output_shape"][-1] for layer in dense] == [512, 256, 10]
    assert card["parameters"] == sum(layer["parameters"] for layer in card["architecture"])
    assert card["training"]["seed"] == metadata["training"]["seed"]
    assert card["dataset"]["md5_uncompressed"] == metadata["dataset"]["md5_uncompressed"]
    assert card["versions"]["onnxruntime"]
    assert card["files"]["models/model.onnx"] == metadata["files"]["models/model.onnx"]
    assert quantize.ONNX_INT8_PATH in card["files"]
    assert card["keras_file"]["sha256"] == hashlib.sha256((out / "model.keras").read_bytes()).hexdigest()


def test_verify_report_html_contents(python_verified):
    out, _ = python_verified
    page = (out / "site" / "report.html").read_text()
    for text in ("onnxruntime", "onnx-int8", "report/history.png", "report/confusion.png", "Model card", "Known limits"):
        assert text in page, text
    assert "<script" not in page


def test_verify_report_html_escapes_values(python_verified):
    out, _ = python_verified
    report = json.loads((out / "report.json").read_text())
    report["most_confused"][0]["true"] = "<script>alert(1)</script>"
    report["model_card"]["versions"]["evil"] = '"><img src=x>'
    page = html.render(report)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '"><img src=x>' not in page


def test_verify_writes_variants_json(python_verified):
    out, _ = python_verified
    document = json.loads((out / "site" / "variants.json").read_text())
    names = [entry["name"] for entry in document["variants"]]
    assert names[:3] == ["onnx-float32", "tfjs-graph-float32", "tfjs-layers-float32"]
    assert set(names[3:]) == {variant.name for variant in quantize.QUANTIZED_VARIANTS}
    assert document["default"] in names


def test_verify_corrupted_onnx_names_runtime_and_difference(short_build, fashion_mnist_dir, tmp_path):
    out = copy_build(short_build, tmp_path)
    corrupt_onnx_weight(out / "site" / "models" / "model.onnx")
    with pytest.raises(ParityError) as caught:
        verify_build(out, data_dir=fashion_mnist_dir, browser=False, log=quiet)
    message = str(caught.value)
    match = re.search(r"onnxruntime: max \|Δ\| (\S+) exceeds the tolerance 1e-05", message)
    assert match, message
    assert float(match.group(1)) > 1e-3
    assert "argmax agreement" in message  # a bias shift of 0.5 flips some predictions
    report = json.loads((out / "report.json").read_text())
    assert report["failures"] == caught.value.failures  # the report is written before the error


def test_verify_lists_every_failure(short_build, fashion_mnist_dir, tmp_path):
    out = copy_build(short_build, tmp_path)
    quantize.export_variants(out / "site")
    corrupt_onnx_weight(out / "site" / "models" / "model.onnx", delta=0.01)
    _break_int8(out / "site" / quantize.ONNX_INT8_PATH)
    with pytest.raises(ParityError) as caught:
        verify_build(out, data_dir=fashion_mnist_dir, browser=False, log=quiet)
    failures = caught.value.failures
    assert any(failure.startswith("onnxruntime: max |Δ|") for failure in failures), failures
    assert any(failure.startswith("onnx-int8 in onnxruntime: accuracy") for failure in failures), failures


def _break_int8(path) -> None:
    """Zero every int8 weight matrix of the quantized model, so it predicts one class."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    for index, tensor in enumerate(model.graph.initializer):
        values = numpy_helper.to_array(tensor)
        if values.dtype == np.int8 and values.ndim == 2:
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(np.zeros_like(values), tensor.name))
    onnx.save(model, str(path))


def test_verify_unloadable_variant_is_listed(short_build, fashion_mnist_dir, tmp_path):
    out = copy_build(short_build, tmp_path)
    quantize.export_variants(out / "site")
    int8 = out / "site" / quantize.ONNX_INT8_PATH
    int8.write_bytes(int8.read_bytes()[:1_000])
    with pytest.raises(ParityError) as caught:
        verify_build(out, data_dir=fashion_mnist_dir, browser=False, log=quiet)
    assert len(caught.value.failures) == 1
    assert caught.value.failures[0].startswith("onnx-int8 in onnxruntime: failed to run")
    variants = json.loads((out / "report.json").read_text())["variants"]
    assert [row["variant"] for row in variants] == ["onnx-float16"]  # the others still ran


def corrupt_tfjs_weight(model_json, delta: float = 0.5) -> None:
    """Add ``delta`` to one bias of the TF.js model's output layer, the only float32 weight of shape [10]."""
    from tensorflowjs.read_weights import read_weights
    from tensorflowjs.write_weights import write_weights

    document = json.loads(model_json.read_text())
    groups = read_weights(document["weightsManifest"], str(model_json.parent))
    biases = [entry for group in groups for entry in group if entry["data"].shape == (len(LABELS),)]
    assert len(biases) == 1, [entry["name"] for group in groups for entry in group]
    biases[0]["data"] = biases[0]["data"].copy()
    biases[0]["data"][0] += delta
    document["weightsManifest"] = write_weights(groups, str(model_json.parent), write_manifest=False)
    model_json.write_text(json.dumps(document))


@pytest.mark.browser
def test_verify_corrupted_exports_fail_in_browser(short_build, fashion_mnist_dir, tmp_path):
    out = copy_build(short_build, tmp_path)
    corrupt_onnx_weight(out / "site" / "models" / "model.onnx")
    corrupt_tfjs_weight(out / "site" / "models" / "tfjs-graph" / "model.json")
    with pytest.raises(ParityError) as caught:
        verify_build(out, data_dir=fashion_mnist_dir, browser=True, log=quiet)
    message = str(caught.value)
    for runtime in ("onnxruntime", "onnxruntime-web", "tfjs-graph"):
        match = re.search(rf"- {runtime}: max \|Δ\| (\S+) exceeds", message)
        assert match, f"{runtime} is not listed in: {message}"
        assert float(match.group(1)) > 1e-3, runtime
    assert "- tfjs-layers:" not in message  # the layers model was left intact


def test_verify_missing_build_names_fix(tmp_path):
    with pytest.raises(BuildFolderError, match="python -m exporter build --out"):
        verify_build(tmp_path / "nothing", browser=False, log=quiet)


def test_verify_cli_missing_build_exits_1(tmp_path, capsys):
    code = cli.main(["verify", "--out", str(tmp_path / "nothing"), "--no-browser"])
    assert code == 1
    assert "is not a finished build" in capsys.readouterr().err


def test_verify_cli_missing_chromium_exits_1(short_build, tmp_path, capsys):
    out = copy_build(short_build, tmp_path)
    code = cli.main(["verify", "--out", str(out), "--chromium", str(tmp_path / "no-chromium")])
    err = capsys.readouterr().err
    assert code == 1
    assert f"Chromium is not at {tmp_path / 'no-chromium'}" in err
    assert "--no-browser" in err
    assert "--debug" not in err
    assert not (out / "report.json").exists()  # it stopped before any work


def test_verify_cli_help_names_flags():
    result = subprocess.run([sys.executable, "-m", "exporter", "verify", "--help"], capture_output=True, text=True, check=True)
    for flag in ("--out", "--no-browser", "--data-dir", "--chromium", "--debug"):
        assert flag in result.stdout


def test_verify_cli_corrupted_exits_1(short_build, fashion_mnist_dir, tmp_path, capsys):
    out = copy_build(short_build, tmp_path)
    corrupt_onnx_weight(out / "site" / "models" / "model.onnx")
    code = cli.main(["verify", "--out", str(out), "--data-dir", str(fashion_mnist_dir), "--no-browser"])
    err = capsys.readouterr().err
    assert code == 1
    assert "onnxruntime: max |Δ|" in err
    assert "report.json" in err


@pytest.mark.browser
def test_verify_browser_runtimes_match_keras(browser_verified):
    out, result = browser_verified
    report = json.loads((out / "report.json").read_text())
    rows = {row["runtime"]: row for row in report["runtimes"]}
    assert list(rows) == ["onnxruntime", *BROWSER_RUNTIMES]
    for runtime in BROWSER_RUNTIMES:
        assert rows[runtime]["where"] == "chromium"
        assert rows[runtime]["images"] == 10_000
        assert rows[runtime]["max_abs_diff"] <= 1e-5, runtime
        assert rows[runtime]["argmax_agreement"] == 1.0, runtime
    assert report["model_card"]["versions"]["chromium"]
    assert result.failures == []


@pytest.mark.browser
@pytest.mark.parametrize("variant", quantize.QUANTIZED_VARIANTS, ids=lambda variant: variant.name)
def test_verify_variant_runs_in_browser(browser_verified, variant):
    out, _ = browser_verified
    report = json.loads((out / "report.json").read_text())
    runtime = {"ort": "onnxruntime-web", "tfjs-graph": "tfjs-graph"}[variant.backend]
    rows = [row for row in report["variants"] if row["variant"] == variant.name and row["runtime"] == runtime]
    assert len(rows) == 1
    row = rows[0]
    assert row["passed"]
    assert row["argmax_agreement"] > 0.99
    assert 0 < row["max_abs_diff"] < 0.1  # a different model, but close to its float32 one
    assert row["gzip_bytes"] < row["bytes"]


@pytest.mark.browser
def test_verify_browser_default_is_smallest_passing(browser_verified):
    out, result = browser_verified
    report = json.loads((out / "report.json").read_text())
    browser_rows = [row for row in report["variants"] if row["runtime"] in BROWSER_RUNTIMES and row["passed"]]
    smallest = min(browser_rows, key=lambda row: row["gzip_bytes"])
    assert report["default_variant"] == smallest["variant"] == result.default_variant
    assert json.loads((out / "site" / "variants.json").read_text())["default"] == smallest["variant"]


def _variant_report(name: str, runtime: str, gzip_bytes: int, correct: int) -> VariantReport:
    return VariantReport(
        variant=name, runtime=runtime, images=10_000, bytes=gzip_bytes * 2, gzip_bytes=gzip_bytes,
        accuracy=correct / 10_000, float32_accuracy=0.85, argmax_agreement=0.99, max_abs_diff=0.01,
    )


def test_verify_default_skips_failed_and_python():
    reports = [
        _variant_report("onnx-int8", "onnxruntime", 100, 8_500),  # smallest, but measured in Python only
        _variant_report("tfjs-graph-uint8", "tfjs-graph", 200, 8_000),  # in the browser, below the floor
        _variant_report("onnx-float16", "onnxruntime-web", 400, 8_500),
        _variant_report("onnx-int8", "onnxruntime-web", 300, 8_460),
    ]
    assert choose_default(reports) == "onnx-int8"
    assert choose_default(reports[:2]) == "onnx-float32"
    assert choose_default([]) == "onnx-float32"
