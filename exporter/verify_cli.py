"""The ``verify`` command: flags for ``exporter.report.run.verify_build``, a summary, one-line errors.

    python -m exporter verify --out build
    python -m exporter verify --out build --no-browser   # Keras and onnxruntime only

Exit codes: 0 when every check passed, 1 when any failed (each failure is listed) or the build
cannot be verified.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from exporter.cli_errors import print_failure
from exporter.report.browser import CHROMIUM


def add_commands(commands) -> None:
    """Register ``verify`` on the CLI's sub-parsers."""
    parser = commands.add_parser(
        "verify",
        help="check every runtime and quantized variant against Keras and write the report",
        description="Evaluate a finished build on all 10,000 test images: Keras, onnxruntime, and in "
        "headless Chromium ONNX Runtime Web and TF.js (graph and layers), plus each quantized variant. "
        "Writes report.json and site/report.html, and exits 1 listing every failed check.",
    )
    parser.add_argument("--out", type=Path, default=Path("build"), help="the build folder to verify (default: build)")
    parser.add_argument("--data-dir", type=Path, help="folder with the four Fashion-MNIST .gz files")
    parser.add_argument("--no-browser", action="store_true", help="skip the runtimes that run in Chromium")
    parser.add_argument("--chromium", default=CHROMIUM, help=f"Chromium executable for the browser runtimes (default: {CHROMIUM})")
    parser.add_argument("--debug", action="store_true", help="show the full traceback when verification fails")
    parser.set_defaults(run=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Run ``verify_build`` from parsed flags; print a summary, or the failures, and return the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up notices
    from exporter.verify import ParityError

    try:
        from exporter.report.run import verify_build

        result = verify_build(args.out, data_dir=args.data_dir, browser=not args.no_browser, chromium=args.chromium)
    except ParityError as error:
        print(f"error: {error}", file=sys.stderr)
        print(f"The report lists every figure: {args.out / 'report.json'}, {args.out / 'site' / 'report.html'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nerror: verification interrupted.", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every failure ends in one line unless --debug
        print_failure(str(error) or type(error).__name__, debug=args.debug, user_error=_is_user_error(error))
        return 1
    print(format_summary(result))
    return 0


def _is_user_error(error: Exception) -> bool:
    from exporter.data import DatasetError
    from exporter.report.browser import BrowserError
    from exporter.report.run import BuildFolderError

    return isinstance(error, (BuildFolderError, DatasetError, BrowserError))


def format_summary(result) -> str:
    """Return the end-of-verify summary: checks run, default variant, skipped parts and report paths."""
    checks = len(result.runtimes) + len(result.variants)
    lines = [
        "",
        f"Verification passed: {len(result.runtimes)} runtimes and {len(result.variants)} variant checks ({checks} in all)",
        f"  default variant {result.default_variant}",
    ]
    lines += [f"  not run         {reason}" for reason in result.skipped]
    lines += [f"  report          {result.report_json}", f"  report page     {result.report_html}"]
    return "\n".join(lines)
