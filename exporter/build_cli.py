"""The ``build`` command: flags for ``exporter.build.build``, a summary at the end, one-line errors."""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import re
import signal
import sys
from pathlib import Path

from exporter.cli_errors import print_failure
from exporter.model_config import ACTIVATIONS, TrainingConfig
from exporter.native_logs import native_logs_filtered

DEFAULTS = TrainingConfig()
# Import names of the packages that the [build] extra installs and the runtime-only install lacks.
BUILD_PACKAGES = ("tensorflow", "keras", "tf2onnx", "tensorflowjs", "onnx")


def add_commands(commands) -> None:
    """Register ``build`` on the CLI's sub-parsers."""
    parser = commands.add_parser(
        "build",
        help="train on Fashion-MNIST, export ONNX and TF.js, verify parity, assemble the site",
        description="Train the MLP on the real Fashion-MNIST, export it to ONNX and TensorFlow.js, "
        "check the ONNX export against Keras on all 10,000 test images, and assemble a static site.",
    )
    parser.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    parser.add_argument("--data-dir", type=Path, help="folder with the four Fashion-MNIST .gz files")
    parser.add_argument("--web-dir", type=Path, help="the page's source folder (default: the project's web/)")
    training = parser.add_argument_group("training")
    training.add_argument(
        "--epochs", type=_positive_int, default=DEFAULTS.epochs,
        help=f"passes over the training set (default: {DEFAULTS.epochs})",
    )
    training.add_argument(
        "--hidden", type=_layer_sizes, default=DEFAULTS.hidden,
        help=f"hidden layer sizes, comma-separated (default: {','.join(map(str, DEFAULTS.hidden))})",
    )
    training.add_argument(
        "--activation", choices=ACTIVATIONS, default=DEFAULTS.activation,
        help=f"hidden-layer activation (default: {DEFAULTS.activation})",
    )
    training.add_argument(
        "--dropout", type=_fraction, default=DEFAULTS.dropout,
        help=f"dropout rate after each hidden layer, in [0, 1) (default: {DEFAULTS.dropout})",
    )
    training.add_argument(
        "--batch-size", type=_positive_int, default=DEFAULTS.batch_size,
        help=f"images per SGD step (default: {DEFAULTS.batch_size})",
    )
    training.add_argument(
        "--learning-rate", type=_positive_float, default=DEFAULTS.learning_rate,
        help=f"initial SGD learning rate, cosine-decayed to 0 (default: {DEFAULTS.learning_rate})",
    )
    training.add_argument(
        "--momentum", type=_fraction, default=DEFAULTS.momentum,
        help=f"SGD momentum, in [0, 1) (default: {DEFAULTS.momentum})",
    )
    training.add_argument(
        "--validation-size", type=_positive_int, default=DEFAULTS.validation_size,
        help=f"training images held out for validation (default: {DEFAULTS.validation_size:,})",
    )
    training.add_argument(
        "--seed", type=_seed, default=DEFAULTS.seed,
        help=f"random seed for weights, shuffling and dropout (default: {DEFAULTS.seed})",
    )
    checks = parser.add_argument_group("verification")
    checks.add_argument(
        "--no-report", action="store_true",
        help="skip the final verification of every runtime and variant, and its report",
    )
    checks.add_argument(
        "--no-browser", action="store_true",
        help="verify without headless Chromium (ONNX Runtime Web and TF.js are then not checked)",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback when the build fails")
    parser.set_defaults(run=run_build)


def run_build(args: argparse.Namespace) -> int:
    """Run a build from parsed flags; print a summary, or one error line and return 1."""
    quiet_tensorflow()
    config = TrainingConfig(
        hidden=tuple(args.hidden),
        activation=args.activation,
        dropout=args.dropout,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        momentum=args.momentum,
        validation_size=args.validation_size,
        seed=args.seed,
    )
    missing = _missing_packages(BUILD_PACKAGES)
    if missing:
        print(
            f"error: building needs the training packages, and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed. Install them with: pip install -e '.[build]'",
            file=sys.stderr,
        )
        return 1
    from exporter.build import build

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with native_logs_filtered():
            result = build(
                args.out,
                config,
                data_dir=args.data_dir,
                web_dir=args.web_dir,
                report=not args.no_report,
                browser=not args.no_browser,
            )
    except KeyboardInterrupt:
        print(f"\nerror: build interrupted; {args.out} was left as it was.", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every failure ends in one line unless --debug
        print_failure(_user_message(error), debug=args.debug, user_error=_is_user_error(error))
        return 1
    print(format_summary(result))
    return 0


def quiet_tensorflow() -> None:
    """Hide TensorFlow's C++ start-up messages (CUDA probes, oneDNN notices) unless the user set a level."""
    # Level 3 hides INFO, WARNING and ERROR lines of TensorFlow's C++ logger. The "errors" at
    # start-up are failed probes for a GPU, and every real failure still raises in Python.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _missing_packages(names: tuple[str, ...]) -> list[str]:
    missing = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except ValueError:  # a module set to None in sys.modules, as an import blocker does
            found = False
        if not found:
            missing.append(name)
    return missing


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C: the staging folder goes, the old output stays


def _is_user_error(error: Exception) -> bool:
    from exporter.build import OutputFolderError
    from exporter.data import DatasetError
    from exporter.report.browser import BrowserError
    from exporter.report.run import BuildFolderError
    from exporter.site import SiteError
    from exporter.verify import ParityError

    user_errors = (DatasetError, OutputFolderError, SiteError, ParityError, BrowserError, BuildFolderError, ValueError, OSError)
    return isinstance(error, user_errors)


def _user_message(error: Exception) -> str:
    if isinstance(error, OSError) and error.filename:
        return f"{error.strerror or error} ({error.filename}). Check that the disk has space and the folder is writable."
    return str(error) or type(error).__name__


def format_summary(result) -> str:
    """Return the end-of-build summary: accuracy, parity, sizes, paths and how to serve the site."""
    out = result.out
    lines = ["", "Build complete", f"  test accuracy   {result.test_accuracy:.4f}"]
    for report in result.parity:
        lines.append(
            f"  parity          {report.runtime}: max |Δ| {report.max_abs_diff:.2e}, "
            f"argmax agreement {report.argmax_agreement:.2%} on {report.images:,} images"
        )
    for label, relative in (
        ("ONNX", "site/models/model.onnx"),
        ("TF.js graph", "site/models/tfjs-graph"),
        ("TF.js layers", "site/models/tfjs-layers"),
        ("Keras", "model.keras"),
    ):
        size = sum(entry["bytes"] for path, entry in result.files.items() if path.startswith(relative))
        lines.append(f"  {label:<15} {out / relative}  ({size / 1024:,.1f} KiB)")
    lines += [
        f"  metadata        {out / 'site' / 'metadata.json'}",
        f"  parity report   {out / 'parity.json'}",
        *_report_lines(out),
        "  stages          " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.stage_seconds.items()),
        "",
        f"Serve the site:  python -m http.server --bind 127.0.0.1 -d {out / 'site'}",
    ]
    return "\n".join(lines)


def _report_lines(out) -> list[str]:
    if not (out / "report.json").is_file():
        return ["  report          skipped (--no-report)"]
    return [
        f"  report          {out / 'site' / 'report.html'} (also {out / 'report.json'})",
    ]


def _positive_int(text: str) -> int:
    value = _parse(int, text, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = _parse(float, text, "a number")
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number greater than 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = _parse(float, text, "a number")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _seed(text: str) -> int:
    value = _parse(int, text, "a whole number")
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in 0..4294967295 (2**32 - 1), got {value}")
    return value


def _layer_sizes(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in text.split(",")]
    # re.fullmatch, not str.isdigit, which also accepts digits such as "²" that int() rejects.
    if not text.strip() or any(not re.fullmatch(r"[0-9]+", part) or int(part) < 1 for part in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive layer sizes such as 256,128, got {text!r}")
    return tuple(int(part) for part in parts)


def _parse(kind, text: str, description: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}") from None
