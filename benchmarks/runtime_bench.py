"""Measure throughput, in images per second, of every runtime and model variant side by side.

    python benchmarks/runtime_bench.py --build-dir build --images 2000 --repeats 3

Python rows: Keras (``model.predict``) and onnxruntime (CPU provider) on the float32, int8 and
float16 ONNX models. Browser rows: the built page in headless Chromium, each backend and variant
through the page's ``window.classifier.predictBatch``, timed inside the page. Every row classifies
the same first ``--images`` test images in batches of 1,000, once to warm up and then ``--repeats``
times, and reports the median pass. Rows run one after another, so background load can favour
one over another: run on an idle machine and compare the ratios. The script sets no threshold.

Needs a finished build (``python -m exporter build``, which writes the variants), Debian's
Chromium at /usr/bin/chromium (or ``--chromium``) and the ``build`` extra.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, installed or not

from exporter import data  # noqa: E402
from exporter.contract import INPUT_NAME, OUTPUT_NAME  # noqa: E402
from exporter.export.quantize import FLOAT32_VARIANTS, QUANTIZED_VARIANTS  # noqa: E402
from exporter.report.browser import BATCH_SIZE, CHROMIUM, BrowserRunner  # noqa: E402

BASELINE = ("onnxruntime", "onnx-float32")  # the row every ratio is relative to


def time_passes(run, images: np.ndarray, repeats: int) -> list[float]:
    """Call ``run(batch)`` on every batch of ``images``, once to warm up, then ``repeats`` timed passes."""
    batches = [images[start : start + BATCH_SIZE] for start in range(0, len(images), BATCH_SIZE)]
    seconds = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        for batch in batches:
            run(batch)
        seconds.append(time.perf_counter() - started)
    return seconds[1:]


def python_rows(build_dir: Path, images: np.ndarray, repeats: int) -> list[tuple[str, str, str, list[float]]]:
    """Time Keras and onnxruntime on every ONNX model in the build; return (runtime, model, where, seconds) rows."""
    import keras
    import onnxruntime

    model = keras.saving.load_model(build_dir / "model.keras")
    rows = [("keras", "model.keras", "python", time_passes(lambda batch: model.predict(batch, verbose=0), images, repeats))]
    for variant in (FLOAT32_VARIANTS[0], *QUANTIZED_VARIANTS):
        path = build_dir / "site" / variant.path
        if variant.backend != "ort" or not path.is_file():
            continue
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        seconds = time_passes(lambda batch: session.run([OUTPUT_NAME], {INPUT_NAME: batch}), images, repeats)
        rows.append(("onnxruntime", variant.name, "python", seconds))
    return rows


def browser_rows(build_dir: Path, images: np.ndarray, repeats: int, chromium: str) -> list[tuple[str, str, str, list[float]]]:
    """Time every page backend and variant in Chromium; return (runtime, model, where, seconds) rows."""
    site_dir = build_dir / "site"
    runtimes = {"ort": "onnxruntime-web", "tfjs-graph": "tfjs-graph", "tfjs-layers": "tfjs-layers"}
    rows = []
    with BrowserRunner(site_dir, chromium) as runner:
        for variant in (*FLOAT32_VARIANTS, *QUANTIZED_VARIANTS):
            if not (site_dir / variant.path).is_file():
                continue
            _, seconds = runner.timed_probabilities(variant, images.astype(np.uint8), passes=repeats + 1)
            rows.append((runtimes[variant.backend], variant.name, f"chromium {runner.version}", seconds[1:]))
    return rows


def format_table(rows: list[tuple[str, str, str, list[float]]], images: int) -> str:
    """Return one line per row: median images per second, the range over passes, and the ratio to the baseline."""
    rates = {(runtime, model): images / statistics.median(seconds) for runtime, model, _, seconds in rows}
    baseline = rates.get(BASELINE)
    lines = [f"{'runtime':<16} {'model':<20} {'where':<26} {'images/s':>10} {'range':>19} {'ratio':>7}"]
    for runtime, model, where, seconds in rows:
        rate = rates[(runtime, model)]
        spread = f"{images / max(seconds):,.0f}–{images / min(seconds):,.0f}"
        ratio = f"{rate / baseline:.2f}" if baseline else "–"
        lines.append(f"{runtime:<16} {model:<20} {where:<26} {rate:>10,.0f} {spread:>19} {ratio:>7}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=REPO / "build", help="a finished build folder (default: build)")
    parser.add_argument("--images", type=int, default=2_000, help="test images per pass, at most 10,000 (default: 2,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per row, after one warm-up pass (default: 3)")
    parser.add_argument("--no-browser", action="store_true", help="time the Python runtimes only")
    parser.add_argument("--chromium", default=CHROMIUM, help=f"Chromium executable (default: {CHROMIUM})")
    args = parser.parse_args()
    if not 1 <= args.images <= 10_000:
        parser.error(f"--images must be between 1 and 10,000, got {args.images}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    images = data.load(None, log=lambda line: None).test_images[: args.images]
    rows = python_rows(args.build_dir, images.astype(np.float32), args.repeats)
    if not args.no_browser:
        rows += browser_rows(args.build_dir, images, args.repeats, args.chromium)
    print(f"{args.images:,} test images per pass, batches of {BATCH_SIZE:,}, median of {args.repeats} passes on {os.cpu_count()} cores")
    print(format_table(rows, args.images))


if __name__ == "__main__":
    main()
