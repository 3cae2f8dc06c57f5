"""Time one prediction from a fresh process: ``python -m exporter predict`` (ONNX) against Keras.

Both paths classify the same PNG with the same preprocessing (exporter.runtime.preprocess), each
in a new Python process, so the times include interpreter start, imports and model loading,
which is what a user of the command waits for. Runs alternate between the two paths so that
background load affects both alike. The script reports medians and their ratio and sets no
threshold.

    python benchmarks/predict_bench.py --build-dir build --repeats 7

Needs a finished build (``build/site`` and ``build/model.keras``) and the ``build`` extra,
because the Keras path imports TensorFlow.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, installed or not

DEFAULT_IMAGE_INDEX = 0  # the first Fashion-MNIST test image, an ankle boot
DATASET_DIR = Path(os.environ.get("FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist")

# The Keras path as an embedding program without the ONNX runtime would write it.
KERAS_SCRIPT = """
import sys
import keras
from exporter.contract import LABELS
from exporter.runtime.preprocess import preprocess_image
model = keras.models.load_model(sys.argv[1])
probabilities = model.predict(preprocess_image(sys.argv[2])[None], verbose=0)[0]
print(LABELS[int(probabilities.argmax())], f"{probabilities.max():.1%}")
"""


def time_command(argv: list[str]) -> tuple[float, str]:
    """Run ``argv`` from the repository root; return its wall time in seconds and its stdout."""
    start = time.perf_counter()
    completed = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"command failed with exit code {completed.returncode}: {' '.join(argv)}\n{completed.stderr}")
    return elapsed, completed.stdout.strip()


def write_sample_png(folder: Path, index: int) -> Path:
    """Write Fashion-MNIST test image ``index``, enlarged to 280×280, as a PNG file."""
    with gzip.open(DATASET_DIR / "t10k-images-idx3-ubyte.gz") as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    path = folder / f"test-{index}.png"
    Image.fromarray(images[index]).resize((280, 280), Image.Resampling.BILINEAR).save(path)
    return path


def warm_latency(build_dir: Path, image: Path, calls: int) -> float:
    """Return the median seconds of one ``Classifier.predict(path)`` call in a warm process."""
    from exporter.runtime import Classifier

    classifier = Classifier.from_dir(build_dir)
    classifier.predict(image)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        classifier.predict(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=REPO / "build", help="build folder (default: build)")
    parser.add_argument("--image", type=Path, help="image to classify (default: a test-set image as PNG)")
    parser.add_argument("--repeats", type=int, default=7, help="runs of each path (default: 7)")
    args = parser.parse_args()

    build_dir = args.build_dir.resolve()
    keras_file = build_dir / "model.keras"
    if not (build_dir / "site" / "metadata.json").is_file() or not keras_file.is_file():
        raise SystemExit(f"{build_dir}: no finished build; run `python -m exporter build --out {build_dir}` first")
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1, got {args.repeats}")

    with tempfile.TemporaryDirectory() as scratch:
        image = args.image.resolve() if args.image else write_sample_png(Path(scratch), DEFAULT_IMAGE_INDEX)
        commands = {
            "onnx": [sys.executable, "-m", "exporter", "predict", str(image), "--model-dir", str(build_dir)],
            "keras": [sys.executable, "-c", KERAS_SCRIPT, str(keras_file), str(image)],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        outputs: dict[str, str] = {}
        for repeat in range(args.repeats):
            # Alternate which path goes first, so neither always runs on a warmer file cache.
            order = list(commands) if repeat % 2 == 0 else list(reversed(commands))
            for name in order:
                elapsed, outputs[name] = time_command(commands[name])
                times[name].append(elapsed)
                print(f"run {repeat + 1}/{args.repeats} {name:>5}: {elapsed:6.3f} s", flush=True)
        warm = warm_latency(build_dir, image, calls=200)

    onnx, keras = (statistics.median(times[name]) for name in ("onnx", "keras"))
    print()
    print(f"image: {image.name}, build: {build_dir}, {args.repeats} runs of each path")
    print(f"onnx  `python -m exporter predict`: median {onnx:.3f} s (min {min(times['onnx']):.3f} s) -> {outputs['onnx']}")
    print(f"keras load_model + predict:        median {keras:.3f} s (min {min(times['keras']):.3f} s) -> {outputs['keras']}")
    print(f"ratio keras / onnx: {keras / onnx:.1f}x of the medians, {min(times['keras']) / min(times['onnx']):.1f}x of the fastest runs")
    print(f"warm Classifier.predict(path) in one process: median {warm * 1000:.2f} ms per image")


if __name__ == "__main__":
    main()
