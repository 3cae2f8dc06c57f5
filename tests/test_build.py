"""The real build on the real data: what it writes, its reports, and how it fails safely."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import json
from pathlib import Path

import pytest

from exporter.build import BUILD_MARKER, OutputFolderError, build
from exporter.contract import LABELS
from exporter.data import DatasetError
from exporter.model import TrainingDivergedError
from exporter.site import SiteError
from exporter.model_config import TrainingConfig


def quiet(line: str) -> None:
    pass


def test_build_writes_site_models_and_reports(short_build):
    site = short_build / "site"
    for relative in (
        "index.html",
        "metadata.json",
        "models/model.onnx",
        "models/tfjs-graph/model.json",
        "models/tfjs-layers/model.json",
        "samples/samples.json",
    ):
        assert (site / relative).is_file(), relative
    assert (short_build / "model.keras").is_file()
    assert (short_build / "parity.json").is_file()
    assert (short_build / BUILD_MARKER).is_file()


def test_build_skips_web_sources(short_build):
    site = short_build / "site"
    assert not (site / "node_modules").exists()
    assert not (site / "package.json").exists()
    assert not (site / "vendor.json").exists()


def test_build_metadata_contents(short_build):
    metadata = json.loads((short_build / "site" / "metadata.json").read_text())
    assert metadata["labels"] == list(LABELS)
    assert metadata["input"]["shape"] == [None, 28, 28]
    assert metadata["input"]["range"] == [0.0, 255.0]
    assert metadata["input"]["polarity"] == "light-on-dark"
    assert 0.80 < metadata["test_accuracy"] <= 1.0
    assert metadata["training"]["seed"] == 0
    assert metadata["training"]["epochs"] == 3
    assert metadata["parity"][0]["images"] == 10_000
    for package in ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "tensorflowjs"):
        assert metadata["versions"][package]


def test_build_metadata_hashes_match_files(short_build):
    site = short_build / "site"
    files = json.loads((site / "metadata.json").read_text())["files"]
    assert "models/model.onnx" in files
    assert "models/tfjs-layers/model.json" in files
    for relative, entry in files.items():
        assert hashlib.sha256((site / relative).read_bytes()).hexdigest() == entry["sha256"], relative


def test_build_parity_report_on_all_test_images(short_build):
    report = json.loads((short_build / "parity.json").read_text())
    (onnx,) = report["runtimes"]
    assert onnx["runtime"] == "onnxruntime"
    assert onnx["images"] == 10_000
    assert onnx["argmax_agreement"] == 1.0
    assert onnx["max_abs_diff"] <= report["tolerances"]["max_abs_diff"] == 1e-5
    assert onnx["runtime_accuracy"] == pytest.approx(onnx["reference_accuracy"])


def test_build_samples_index(short_build):
    samples = json.loads((short_build / "site" / "samples" / "samples.json").read_text())["samples"]
    assert len(samples) == 20
    assert sorted({sample["label"] for sample in samples}) == list(range(10))
    for sample in samples:
        assert (short_build / "site" / sample["file"]).is_file()
        assert sample["label_name"] == LABELS[sample["label"]]


def make_previous_build(out):
    out.mkdir()
    (out / BUILD_MARKER).write_text("")
    (out / "site").mkdir()
    (out / "site" / "index.html").write_text("previous site")


def test_build_bad_data_keeps_previous_output(tmp_path):
    out = tmp_path / "build"
    make_previous_build(out)
    with pytest.raises(DatasetError):
        build(out, TrainingConfig(epochs=1), data_dir=tmp_path / "empty", log=quiet)
    assert (out / "site" / "index.html").read_text() == "previous site"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_build_crash_mid_export_keeps_previous_output(tmp_path, fashion_mnist_dir, monkeypatch):
    out = tmp_path / "build"
    make_previous_build(out)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while writing the layers model")

    monkeypatch.setattr("exporter.export.tfjs_export.export_layers_model", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        build(out, TrainingConfig(epochs=1, hidden=(16,)), data_dir=fashion_mnist_dir, log=quiet)
    assert (out / "site" / "index.html").read_text() == "previous site"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_build_refuses_foreign_nonempty_folder(tmp_path):
    out = tmp_path / "my-documents"
    out.mkdir()
    (out / "thesis.txt").write_text("precious")
    with pytest.raises(OutputFolderError, match="not made by this tool"):
        build(out, TrainingConfig(epochs=1), log=quiet)
    assert (out / "thesis.txt").read_text() == "precious"


def test_build_rejects_out_that_is_a_file(tmp_path):
    out = tmp_path / "build"
    out.write_text("")
    with pytest.raises(OutputFolderError, match="is a file"):
        build(out, TrainingConfig(epochs=1), log=quiet)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (TrainingConfig(epochs=0), "epochs"),
        (TrainingConfig(hidden=()), "hidden"),
        (TrainingConfig(activation="softplus"), "activation"),
        (TrainingConfig(dropout=1.0), "dropout"),
    ],
)
def test_build_invalid_config_trains_nothing(tmp_path, config, message):
    with pytest.raises(ValueError, match=message):
        build(tmp_path / "build", config, log=quiet)
    assert not (tmp_path / "build").exists()



def test_build_same_seed_is_byte_identical(tmp_path, fashion_mnist_dir):
    config = TrainingConfig(epochs=1, hidden=(32,))
    outputs = [tmp_path / "first", tmp_path / "second"]
    for out in outputs:
        build(out, config, data_dir=fashion_mnist_dir, log=quiet)
    first, second = (out / "site" for out in outputs)
    published = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert published == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    for relative in published:
        if relative == "metadata.json":
            continue
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative
    metadata = [json.loads((site / "metadata.json").read_text()) for site in (first, second)]
    for document in metadata:
        document.pop("build")
    assert metadata[0] == metadata[1]


def test_build_other_seed_gives_other_weights(tmp_path, fashion_mnist_dir):
    for seed in (0, 1):
        build(tmp_path / f"seed-{seed}", TrainingConfig(epochs=1, hidden=(32,), seed=seed), data_dir=fashion_mnist_dir, log=quiet)
    onnx_files = [(tmp_path / f"seed-{seed}" / "site" / "models" / "model.onnx").read_bytes() for seed in (0, 1)]
    assert onnx_files[0] != onnx_files[1]


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_build_interrupted_keeps_previous_site(tmp_path, fashion_mnist_dir, signal_number):
    out = tmp_path / "build"
    make_previous_build(out)
    command = [
        sys.executable, "-u", "-m", "exporter", "build", "--epochs", "50", "--hidden", "32",
        "--out", str(out), "--data-dir", str(fashion_mnist_dir),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        if "1/50" in line:
            break
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert (out / "site" / "index.html").read_text() == "previous site"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_build_unwritable_output_trains_nothing(tmp_path):
    # /proc rejects new folders even for root, whom file permissions do not stop.
    with pytest.raises(OutputFolderError, match="cannot write next to --out"):
        build(Path("/proc/exporter-build"), TrainingConfig(epochs=1), data_dir=tmp_path / "unused", log=quiet)


def test_build_missing_runtime_files_fail_before_training(tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html>")
    (web / "vendor.json").write_text(json.dumps({"files": [{"from": "node_modules/x/x.js", "to": "vendor/x.js"}]}))
    lines = []
    with pytest.raises(SiteError, match="npm ci --prefix"):
        build(tmp_path / "build", TrainingConfig(epochs=1), web_dir=web, data_dir=tmp_path / "unused", log=lines.append)
    assert lines == []


def test_build_missing_vendor_manifest(tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html>")
    with pytest.raises(SiteError, match="vendor.json is missing"):
        build(tmp_path / "build", TrainingConfig(epochs=1), web_dir=web, log=quiet)


def test_build_diverging_training_stops_before_export(tmp_path, fashion_mnist_dir):
    lines = []
    with pytest.raises(TrainingDivergedError, match="Lower --learning-rate"):
        build(tmp_path / "build", TrainingConfig(epochs=1, learning_rate=1000.0), data_dir=fashion_mnist_dir, log=lines.append)
    assert "[export]" not in lines
    assert not (tmp_path / "build").exists()


def test_build_cleans_stale_staging_and_is_readable(tmp_path, fashion_mnist_dir):
    out = tmp_path / "build"
    (tmp_path / ".build.staging-stale").mkdir()
    (tmp_path / ".build.previous-stale" / "build").mkdir(parents=True)
    build(out, TrainingConfig(epochs=1, hidden=(16,)), data_dir=fashion_mnist_dir, log=quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]
    assert out.stat().st_mode & 0o005 == 0o005  # others may read and enter: a web server can serve it


def test_build_restores_output_moved_aside_by_killed_build(tmp_path, fashion_mnist_dir, monkeypatch):
    out = tmp_path / "build"
    moved = tmp_path / ".build.previous-killed" / "build"
    moved.mkdir(parents=True)
    (moved / BUILD_MARKER).write_text("")
    (moved / "kept.txt").write_text("previous build")

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash after the recovery")

    monkeypatch.setattr("exporter.export.tfjs_export.export_layers_model", crash)
    with pytest.raises(RuntimeError):
        build(out, TrainingConfig(epochs=1, hidden=(16,)), data_dir=fashion_mnist_dir, log=quiet)
    assert (out / "kept.txt").read_text() == "previous build"
