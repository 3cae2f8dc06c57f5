"""``python -m exporter predict``: output, per-file errors, JSON and exit codes, on real files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from exporter import contract
from exporter.cli import main
from exporter.runtime import Classifier
from tests.runtime_fixtures import (
    load_images,
    load_labels,
    make_metadata,
    model_build,  # noqa: F401  (fixture)
    variant,
    write_site,
)

REPO = Path(__file__).resolve().parents[1]
HEAVY_MODULES = ("tensorflow", "keras", "tf2onnx", "tensorflowjs")


@pytest.fixture
def images(tmp_path) -> dict[str, Path]:
    """Real test-set images as files, plus the broken files ``predict`` must report and skip."""
    files = {}
    for name, index in (("boot.png", 0), ("trouser.jpg", 2), ("pullover.webp", 1)):
        files[name] = tmp_path / name
        Image.fromarray(load_images()[index]).resize((112, 112)).save(files[name])
    files["empty.png"] = tmp_path / "empty.png"
    files["empty.png"].write_bytes(b"")
    files["notes.png"] = tmp_path / "notes.png"
    files["notes.png"].write_text("not a picture\n")
    files["white.png"] = tmp_path / "white.png"
    Image.new("L", (50, 50), 255).save(files["white.png"])
    noise = np.random.default_rng(0).integers(-2, 3, size=(300, 400))
    files["paper.png"] = tmp_path / "paper.png"
    Image.fromarray((253 + noise).astype(np.uint8)).save(files["paper.png"])
    speck = np.full((400, 400), 255, dtype=np.uint8)
    speck[200:203, 200:203] = 0
    files["speck.png"] = tmp_path / "speck.png"
    Image.fromarray(speck).save(files["speck.png"])
    buffer = io.BytesIO()
    Image.fromarray(load_images()[3]).resize((200, 200)).save(buffer, format="PNG")
    files["truncated.png"] = tmp_path / "truncated.png"
    files["truncated.png"].write_bytes(buffer.getvalue()[:300])
    files["missing.png"] = tmp_path / "missing.png"
    return files


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["predict", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_one_file(capsys, model_build, images):
    expected = Classifier.from_dir(model_build).predict(images["boot.png"])

    code, out, err = run(capsys, images["boot.png"], "--model-dir", model_build)

    assert code == 0
    assert out == f"{images['boot.png']}: {expected.label} {expected.probability:.1%}\n"
    assert "classified 1 of 1 images" in err


def test_predict_top_k_in_order(capsys, model_build, images):
    expected = Classifier.from_dir(model_build).predict(images["trouser.jpg"]).top(3)

    code, out, _ = run(capsys, images["trouser.jpg"], "--model-dir", model_build, "--top", "3")

    assert code == 0
    assert out.split(": ", 1)[1].strip() == ", ".join(f"{label} {p:.1%}" for label, p in expected)


def test_predict_default_model_dir_is_build(capsys, model_build, images, monkeypatch, tmp_path):
    write_site(tmp_path / "project" / "build")
    monkeypatch.chdir(tmp_path / "project")

    code, out, _ = run(capsys, images["boot.png"])

    assert code == 0
    assert out.startswith(f"{images['boot.png']}: ")


def test_predict_site_folder_accepted(capsys, model_build, images):
    code, _, _ = run(capsys, images["boot.png"], "--model-dir", model_build / "site")

    assert code == 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("empty.png", "the file is empty"),
        ("notes.png", "not a readable PNG, JPEG, WebP or GIF image"),
        ("white.png", "nothing to classify: the image is blank"),
        ("paper.png", "nothing to classify: the image is blank"),
        ("speck.png", "the object is too small to classify: it covers 3×3 px of a 400×400 image"),
        ("truncated.png", "not a readable PNG, JPEG, WebP or GIF image"),
        ("missing.png", "file not found"),
    ],
)
def test_predict_bad_file_reported_and_skipped(capsys, model_build, images, bad, message):
    code, out, err = run(capsys, images["boot.png"], images[bad], images["trouser.jpg"], "--model-dir", model_build)

    assert code == 1
    assert out.count("\n") == 2
    assert f"{images['boot.png']}: " in out
    assert f"{images['trouser.jpg']}: " in out
    error_lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert error_lines == [line for line in error_lines if str(images[bad]) in line]
    assert len(error_lines) == 1
    assert message in error_lines[0]
    assert "classified 2 of 3 images" in err
    assert "1 failed" in err


def test_predict_every_failure_one_line(capsys, model_build, images):
    bad = ["empty.png", "notes.png", "white.png", "truncated.png", "missing.png"]

    code, out, err = run(capsys, *(images[name] for name in bad), "--model-dir", model_build)

    assert code == 1
    assert out == ""
    assert len([line for line in err.splitlines() if line.startswith("error: ")]) == len(bad)
    assert "Traceback" not in err


def test_predict_json_document(capsys, model_build, images):
    good, bad = images["pullover.webp"], images["notes.png"]
    expected = Classifier.from_dir(model_build).predict(good)

    code, out, err = run(capsys, good, bad, "--model-dir", model_build, "--json", "--top", "2")

    assert code == 1
    assert err == ""
    document = json.loads(out)
    assert document["failed"] == 1
    assert document["model"].endswith("model.onnx")
    first, second = document["results"]
    assert first["file"] == str(good)
    assert first["ok"] is True
    assert first["label"] == expected.label
    assert first["probability"] == pytest.approx(expected.probability)
    assert [entry["label"] for entry in first["top"]] == [label for label, _ in expected.top(2)]
    assert list(first["probabilities"]) == list(contract.LABELS)
    assert second == {"file": str(bad), "ok": False, "error": second["error"]}
    assert str(bad) in second["error"]


def test_predict_json_all_ok(capsys, model_build, images):
    code, out, _ = run(capsys, images["boot.png"], images["trouser.jpg"], "--model-dir", model_build, "--json")

    assert code == 0
    assert json.loads(out)["failed"] == 0


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_predict_missing_model_dir_exit_2(capsys, images, tmp_path, as_json):
    flags = ["--json"] if as_json else []

    code, out, err = run(capsys, images["boot.png"], "--model-dir", tmp_path / "nowhere", *flags)

    assert code == 2
    assert f"error: {tmp_path / 'nowhere'}: model folder does not exist" in err
    if as_json:
        assert "does not exist" in json.loads(out)["error"]
    else:
        assert out == ""


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_predict_model_dir_is_file_exit_2(capsys, images, as_json):
    flags = ["--json"] if as_json else []
    expected = f"--model-dir {images['boot.png']} is a file, not a folder; pass the build or site folder"

    code, out, err = run(capsys, images["trouser.jpg"], "--model-dir", images["boot.png"], *flags)

    assert code == 2
    assert err == f"error: {expected}\n"
    if as_json:
        assert json.loads(out) == {"model": None, "results": [], "error": expected}
    else:
        assert out == ""


def test_predict_mismatched_metadata_exit_2(capsys, images, tmp_path):
    write_site(tmp_path, metadata=variant(make_metadata(), "labels", ["a", "b", "c"]))

    code, out, err = run(capsys, images["boot.png"], "--model-dir", tmp_path)

    assert code == 2
    assert out == ""
    assert "does not match its metadata.json" in err
    assert "3 labels, the model outputs 10" in err


@pytest.mark.parametrize(
    "argv",
    [["--top", "0"], ["--top", "-2"], ["--top", "three"], [], ["--unknown"]],
    ids=["top-0", "top-negative", "top-word", "no-images", "unknown-flag"],
)
def test_predict_usage_error_exit_2(capsys, argv):
    images = [] if argv == [] else ["x.png"]

    with pytest.raises(SystemExit) as caught:
        main(["predict", *images, *argv])

    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_predict_top_above_label_count(capsys, model_build, images):
    code, out, _ = run(capsys, images["boot.png"], "--model-dir", model_build, "--top", "50")

    assert code == 0
    assert out.count("%") == len(contract.LABELS)


def test_predict_subprocess_imports_no_tensorflow(model_build, images):
    """``python -m exporter predict`` runs in a fresh interpreter without loading TensorFlow."""
    script = (
        "import runpy, sys\n"
        "try:\n"
        "    runpy.run_module('exporter', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_MODULES!r})\n"
        "print('exit', code, 'heavy', heavy)\n"
    )
    argv = ["exporter", "predict", str(images["boot.png"]), "--model-dir", str(model_build)]

    completed = subprocess.run(
        [sys.executable, "-c", script, *argv[1:]], cwd=REPO, capture_output=True, text=True
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "exit 0 heavy []"
    assert completed.stdout.startswith(f"{images['boot.png']}: ")


def test_predict_help_subprocess():
    completed = subprocess.run(
        [sys.executable, "-m", "exporter", "predict", "--help"], cwd=REPO, capture_output=True, text=True
    )

    assert completed.returncode == 0
    assert "--model-dir" in completed.stdout
    assert "--top" in completed.stdout
    assert "--json" in completed.stdout


@pytest.mark.slow
def test_predict_real_short_build(capsys, short_build, images):
    """The real exported MLP loads, classifies real test images well, and serves the CLI."""
    classifier = Classifier.from_dir(short_build)
    predictions = classifier.predict(load_images()[:200])

    accuracy = sum(p.index == label for p, label in zip(predictions, load_labels()[:200])) / 200
    code, out, _ = run(capsys, images["boot.png"], images["trouser.jpg"], "--model-dir", short_build, "--json")

    assert accuracy > 0.7
    assert code == 0
    assert [r["ok"] for r in json.loads(out)["results"]] == [True, True]
