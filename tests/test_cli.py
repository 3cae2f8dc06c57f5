"""The command line: help, flag validation, one-line errors and the build summary."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from exporter.cli import main


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def test_cli_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "build" in result.stdout
    assert "predict" in result.stdout


def test_cli_build_help_names_every_flag():
    result = run_cli("build", "--help")
    assert result.returncode == 0
    for flag in ("--out", "--data-dir", "--epochs", "--hidden", "--activation", "--seed", "--debug"):
        assert flag in result.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "0"], "must be at least 1"),
        (["--epochs", "-3"], "must be at least 1"),
        (["--epochs", "ten"], "expected a whole number"),
        (["--hidden", ""], "comma-separated positive layer sizes"),
        (["--hidden", "256,,128"], "comma-separated positive layer sizes"),
        (["--hidden", "256,0"], "comma-separated positive layer sizes"),
        (["--activation", "softplus"], "invalid choice"),
        (["--dropout", "1"], "must be in [0, 1)"),
        (["--learning-rate", "nan"], "finite number greater than 0"),
        (["--learning-rate", "-0.1"], "finite number greater than 0"),
        (["--momentum", "1.5"], "must be in [0, 1)"),
        (["--seed", "-1"], "must be in 0..4294967295"),
        (["--seed", "4294967296"], "must be in 0..4294967295"),
        (["--hidden", "²"], "comma-separated positive layer sizes"),
    ],
)
def test_cli_build_rejects_bad_flags(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build", *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_build_missing_data_is_one_line(tmp_path):
    result = run_cli("build", "--out", str(tmp_path / "build"), "--data-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "--data-dir" in error_lines[0]
    assert "apt-get install dataset-fashion-mnist" in error_lines[0]
    assert not (tmp_path / "build").exists()


def test_cli_build_debug_shows_traceback(tmp_path):
    result = run_cli("build", "--debug", "--out", str(tmp_path / "build"), "--data-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_cli_build_prints_summary(tmp_path, fashion_mnist_dir):
    out = tmp_path / "build"
    result = run_cli(
        "build", "--no-report", "--epochs", "1", "--hidden", "32", "--out", str(out), "--data-dir", str(fashion_mnist_dir)
    )
    assert result.returncode == 0, result.stderr
    assert "report          skipped" in result.stdout
    assert "epoch 1/1" in result.stdout
    assert "Build complete" in result.stdout
    assert "test accuracy" in result.stdout
    assert f"python -m http.server --bind 127.0.0.1 -d {out / 'site'}" in result.stdout
    assert (out / "site" / "metadata.json").is_file()


def test_cli_build_ends_with_four_runtime_report(tmp_path, fashion_mnist_dir):
    out = tmp_path / "build"
    result = run_cli("build", "--epochs", "1", "--hidden", "32", "--out", str(out), "--data-dir", str(fashion_mnist_dir))
    assert result.returncode == 0, result.stderr
    assert "[report]" in result.stdout
    assert f"{out / 'site' / 'report.html'}" in result.stdout
    report = json.loads((out / "report.json").read_text())
    runtimes = {entry["runtime"] for entry in report["runtimes"]}
    assert {"onnxruntime", "onnxruntime-web", "tfjs-graph", "tfjs-layers"} <= runtimes
    html = (out / "site" / "report.html").read_text()
    assert "confusion" in html
    assert (out / "site" / "variants.json").is_file()


def test_cli_build_sigmoid_activation(tmp_path, fashion_mnist_dir):
    out = tmp_path / "build"
    result = run_cli(
        "build", "--no-report", "--activation", "sigmoid", "--epochs", "1", "--hidden", "32",
        "--out", str(out), "--data-dir", str(fashion_mnist_dir),
    )
    assert result.returncode == 0, result.stderr
    assert '"activation": "sigmoid"' in (out / "site" / "metadata.json").read_text()


def test_cli_build_full_disk_is_one_line(tmp_path, fashion_mnist_dir, monkeypatch, capsys):
    out = tmp_path / "build"
    out.mkdir()
    (out / ".exporter-build").write_text("")
    (out / "previous.txt").write_text("previous build")

    def disk_full(model, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("exporter.export.onnx_export.export_onnx", disk_full)
    code = main(["build", "--no-report", "--epochs", "1", "--hidden", "16", "--out", str(out), "--data-dir", str(fashion_mnist_dir)])
    stderr = capsys.readouterr().err
    assert code == 1
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "No space left on device" in error_lines[0]
    assert "disk has space" in error_lines[0]
    assert "Traceback" not in stderr
    assert (out / "previous.txt").read_text() == "previous build"


def test_cli_build_without_training_packages(tmp_path):
    # Stands in for the runtime-only install: importing TensorFlow fails as if it were absent.
    code = (
        "import sys; sys.modules['tf2onnx'] = None; from exporter.cli import main; "
        f"sys.exit(main(['build', '--out', {str(tmp_path / 'build')!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pip install -e '.[build]'" in result.stderr
    assert "tf2onnx is not installed" in result.stderr
