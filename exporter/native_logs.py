"""Drop the C++ start-up chatter that TensorFlow, XLA and CUDA probes print on file descriptor 2.

TensorFlow 2.19's wheel registers CUDA plugins and logs through absl before
``absl::InitializeLog`` runs, so ``TF_CPP_MIN_LOG_LEVEL`` does not silence those lines. The
filter sends stderr through a pipe and forwards every line except the native log lines, so
Python's own warnings, errors and tracebacks still reach the terminal.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# absl/glog lines ("I0000 00:00:… file.cc:67] …", "W1204 …"), the notice absl prints before them,
# and TensorFlow's timestamped C++ lines ("2026-12-04 20:12:50.38: E external/…").
NATIVE_LOG_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|\d{4}-\d\d-\d\d [\d:.]+: [IWE] \S+:\d+\]"
    rb"|To enable the following instructions: .* rebuild TensorFlow)"
)


@contextmanager
def native_logs_filtered() -> Iterator[None]:
    """Filter fd 2 for the duration of the block; restore it afterwards."""
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(target=_forward, args=(read_end, saved), daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end, so the forwarder reads end of file
        forwarder.join(timeout=5)
        os.close(saved)


def _forward(read_end: int, target: int) -> None:
    with os.fdopen(read_end, "rb") as lines:
        for line in lines:
            if not NATIVE_LOG_LINE.match(line):
                os.write(target, line)
