"""The ``predict`` command: classify image files with an exported ONNX model.

    python -m exporter predict shoe.png bag.jpg --model-dir build --top 3
    python -m exporter predict *.png --json > predictions.json

Exit codes: 0 when every file was classified, 1 when any file failed (each failure is one
line on stderr, and the other files are still classified), 2 for a bad flag or an unusable
model folder. Only onnxruntime, NumPy and Pillow are imported.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from exporter.runtime.classifier import Classifier, ModelDirError, Prediction
from exporter.runtime.preprocess import PreprocessError

DEFAULT_MODEL_DIR = "build"
EXIT_OK, EXIT_FILE_FAILED, EXIT_USAGE = 0, 1, 2


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``predict`` on the ``python -m exporter`` parser."""
    parser = subparsers.add_parser(
        "predict",
        help="classify image files with the exported ONNX model (no TensorFlow needed)",
        description=(
            "Classify PNG, JPEG, WebP or GIF files with model.onnx from a build or site folder. "
            "Each image is preprocessed as the web page does it. Exit code 0: all classified; "
            "1: some files failed; 2: bad flags or model folder."
        ),
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files to classify")
    parser.add_argument(
        "--model-dir",
        default=DEFAULT_MODEL_DIR,
        metavar="DIR",
        help="a build folder (containing site/metadata.json) or a site folder "
        f"(containing metadata.json); default: {DEFAULT_MODEL_DIR}",
    )
    parser.add_argument(
        "--top",
        type=_positive_int,
        default=1,
        metavar="K",
        help="show the K most probable labels per image (default: 1)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document with every result and error, instead of text",
    )
    parser.set_defaults(run=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    """Classify ``args.images``, print the results and return the exit code."""
    return predict_files(args.images, args.model_dir, args.top, args.json, sys.stdout, sys.stderr)


def predict_files(
    images: Sequence[str],
    model_dir: str,
    top: int,
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """Classify each file, write results to ``out`` and failures to ``err``; return the exit code."""
    try:
        if Path(model_dir).is_file():
            raise ModelDirError(f"--model-dir {model_dir} is a file, not a folder; pass the build or site folder")
        classifier = Classifier.from_dir(model_dir)
    except ModelDirError as error:
        if as_json:
            _write_json(out, {"model": None, "results": [], "error": str(error)})
        print(f"error: {error}", file=err)
        return EXIT_USAGE

    results: list[dict[str, Any]] = []
    for image in images:
        try:
            prediction = classifier.predict(image)
        except PreprocessError as error:
            # The message names the file, what is wrong and what to do.
            results.append({"file": image, "ok": False, "error": str(error)})
            if not as_json:
                print(f"error: {error}", file=err)
            continue
        results.append({"file": image, "ok": True, **_result(prediction, top)})
        if not as_json:
            print(f"{image}: {_format_top(prediction, top)}", file=out)

    failed = sum(not result["ok"] for result in results)
    if as_json:
        _write_json(out, {"model": str(classifier.model_path), "results": results, "failed": failed})
    else:
        print(
            f"classified {len(images) - failed:,} of {len(images):,} images "
            f"with {classifier.model_path}" + (f"; {failed:,} failed" if failed else ""),
            file=err,
        )
    return EXIT_FILE_FAILED if failed else EXIT_OK


def _result(prediction: Prediction, top: int) -> dict[str, Any]:
    result = prediction.to_dict()
    result["top"] = [{"label": label, "probability": p} for label, p in prediction.top(top)]
    return result


def _format_top(prediction: Prediction, top: int) -> str:
    return ", ".join(f"{label} {p:.1%}" for label, p in prediction.top(top))


def _write_json(out: TextIO, document: dict[str, Any]) -> None:
    json.dump(document, out, indent=2, ensure_ascii=False)
    out.write("\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
