"""Command-line interface: ``python -m exporter build|verify|predict``.

Each command parses its flags and calls one library function. The heavy libraries
(TensorFlow, tf2onnx) are imported inside the commands that need them, so ``predict``
runs with the runtime-only install.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; return the process exit code."""
    parser = _make_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    return args.run(args)


def _make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exporter",
        description="Train, export, verify and publish a Fashion-MNIST classifier for the browser.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    from exporter import build_cli, verify_cli
    from exporter.runtime import cli as runtime_cli

    build_cli.add_commands(commands)
    verify_cli.add_commands(commands)
    runtime_cli.add_commands(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
