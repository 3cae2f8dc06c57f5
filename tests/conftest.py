"""Shared fixtures.

- ``fashion_mnist_dir``: the folder with the real Fashion-MNIST files (Debian's package by
  default, or ``$FASHION_MNIST_DIR``); tests that need it are skipped only outside CI.
- ``short_build``: one real build on the real data, with few epochs, made once per session
  and shared read-only by every test that inspects build output.
- ``idx_folder``: a factory for small, valid IDX data sets that a test writes itself, with
  the checksums that match them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from exporter import data

# Browser fixtures (a local server, Chromium, request recording) live in tests/browser.py.
pytest_plugins = ["tests.browser"]

SHORT_BUILD_EPOCHS = 3
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> Path:
    """Return the folder with the real data set; fail in CI when it is missing."""
    folder = Path(os.environ.get("FASHION_MNIST_DIR") or data.DEBIAN_DIR)
    if not all((folder / name).is_file() for name in data.FILE_NAMES):
        message = f"the real Fashion-MNIST is not in {folder}; run `apt-get install dataset-fashion-mnist`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def short_build(tmp_path_factory, fashion_mnist_dir) -> Path:
    """Run one real build with few epochs and return its output folder (read-only for tests)."""
    from exporter.build import build
    from exporter.model_config import TrainingConfig

    out = tmp_path_factory.mktemp("short-build") / "build"
    build(out, TrainingConfig(epochs=SHORT_BUILD_EPOCHS), data_dir=fashion_mnist_dir, log=lambda line: None)
    return out


def write_idx_images(path: Path, images: np.ndarray) -> None:
    """Write uint8 images ``[n, rows, cols]`` as a gzipped IDX3 file."""
    n, rows, cols = images.shape
    header = (0x803).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, rows, cols))
    path.write_bytes(gzip.compress(header + images.astype(np.uint8).tobytes(), mtime=0))


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    """Write uint8 labels ``[n]`` as a gzipped IDX1 file."""
    header = (0x801).to_bytes(4, "big") + len(labels).to_bytes(4, "big")
    path.write_bytes(gzip.compress(header + labels.astype(np.uint8).tobytes(), mtime=0))


def checksums_of(folder: Path) -> dict[str, data.Checksum]:
    """Return the checksums that the files in ``folder`` pass, as the loader expects them."""
    result = {}
    for name in data.FILE_NAMES:
        blob = (folder / name).read_bytes()
        result[name] = data.Checksum(
            gz_md5=hashlib.md5(blob).hexdigest(),
            raw_md5=hashlib.md5(gzip.decompress(blob)).hexdigest(),
        )
    return result


@pytest.fixture
def idx_folder(tmp_path):
    """Return a factory ``make(train=30, test=10) -> (folder, checksums)`` for small valid data sets."""

    def make(train: int = 30, test: int = 10, folder_name: str = "fmnist"):
        folder = tmp_path / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(7)
        write_idx_images(folder / data.TRAIN_IMAGES, rng.integers(0, 256, (train, 28, 28)))
        write_idx_labels(folder / data.TRAIN_LABELS, np.arange(train) % 10)
        write_idx_images(folder / data.TEST_IMAGES, rng.integers(0, 256, (test, 28, 28)))
        write_idx_labels(folder / data.TEST_LABELS, np.arange(test) % 10)
        return folder, checksums_of(folder)

    return make
