"""Measure the default build: wall time per stage, test accuracy, and inference throughput of
ONNX Runtime against Keras on the 10,000 test images, side by side in one run.

    python benchmarks/build_bench.py [--out /tmp/bench-build] [--repeats 5]

Prints figures and ratios; it asserts nothing, because timings on shared machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "exporter-bench-build")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds per runtime")
    args = parser.parse_args()

    from exporter.build import build
    from exporter.model_config import TrainingConfig

    started = time.perf_counter()
    result = build(args.out, TrainingConfig(), log=lambda line: None)
    total = time.perf_counter() - started
    print(f"default build: {total:.1f} s in all, test accuracy {result.test_accuracy:.4f}")
    for stage, seconds in result.stage_seconds.items():
        print(f"  {stage:<7} {seconds:6.1f} s")
    compare_throughput(args.out, args.repeats)


def compare_throughput(out: Path, repeats: int) -> None:
    """Time Keras and onnxruntime on the 10,000 test images, alternating rounds."""
    import keras
    import onnxruntime

    from exporter import data

    images = data.load(log=lambda line: None).test_images.astype("float32")
    model = keras.models.load_model(out / "model.keras")
    session = onnxruntime.InferenceSession(str(out / "site" / "models" / "model.onnx"), providers=["CPUExecutionProvider"])
    runners = {
        "keras": lambda: model.predict(images, batch_size=1_000, verbose=0),
        "onnxruntime": lambda: session.run(None, {"image": images}),
    }
    for run in runners.values():
        run()  # warm-up: graph tracing and session initialisation
    timings: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for name, seconds in medians.items():
        print(f"  {name:<12} {len(images) / seconds:>12,.0f} images/s  (median of {repeats})")
    print(f"  onnxruntime / keras throughput ratio: {medians['keras'] / medians['onnxruntime']:.1f}x")


if __name__ == "__main__":
    main()
