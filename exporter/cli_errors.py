"""Print a failed command's error as one line, with the traceback only under ``--debug``."""

from __future__ import annotations

import sys
import traceback


def print_failure(message: str, *, debug: bool, user_error: bool) -> None:
    """Print ``error: message`` for the exception being handled; call it from an ``except`` block.

    ``--debug`` adds the traceback. Without it, a failure that is not the user's to fix also
    prints how to get the traceback.
    """
    if debug:
        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    if not debug and not user_error:
        print("Run again with --debug for the traceback.", file=sys.stderr)
