"""Find, verify and read the real Fashion-MNIST data set from its four IDX files.

The files are looked for, in order, in ``--data-dir``, ``$FASHION_MNIST_DIR``, Debian's
``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``), Keras's cache
``~/.keras/datasets/fashion-mnist``, and this tool's download cache. Only when none has them
are they downloaded, into the download cache. Every file is checked against the published
MD5 before it is parsed, so MNIST digits saved under the same names are rejected.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exporter.contract import IMAGE_SIZE

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILE_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


@dataclass(frozen=True)
class Checksum:
    """The published MD5 digests of one file, compressed and uncompressed.

    Debian recompresses the files, so its ``.gz`` digests differ from the official ones while
    the uncompressed content is identical. A file passes when either digest matches.
    """

    gz_md5: str
    raw_md5: str


# The .gz digests are those of the Fashion-MNIST README (zalandoresearch/fashion-mnist). The
# uncompressed ones were computed from Debian's dataset-fashion-mnist 0.0~git20200523 files and
# agree with the raw-file tables of public loaders.
PUBLISHED_CHECKSUMS: Mapping[str, Checksum] = {
    TRAIN_IMAGES: Checksum("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
    TRAIN_LABELS: Checksum("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
    TEST_IMAGES: Checksum("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
    TEST_LABELS: Checksum("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
}

DEFAULT_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_TIMEOUT_SECONDS = 30

IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension

HOW_TO_GET = (
    "Get the files with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or download the "
    "four .gz files from https://github.com/zalandoresearch/fashion-mnist into a folder and pass "
    "--data-dir FOLDER or set FASHION_MNIST_DIR."
)


class DatasetError(Exception):
    """The data set is missing, corrupt or not Fashion-MNIST. The message names the file and the fix."""


@dataclass(frozen=True)
class Dataset:
    """Fashion-MNIST as uint8 arrays: images ``[n, 28, 28]`` light-on-dark, labels ``[n]`` in 0..9."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: Path
    md5: dict[str, str] = field(default_factory=dict)  # uncompressed MD5 by file name


def download_cache_dir() -> Path:
    """Return the folder that downloads go to: ``$XDG_CACHE_HOME/fashion-mnist-exporter``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fashion-mnist-exporter"


def keras_cache_dir() -> Path:
    """Return the folder where ``keras.datasets.fashion_mnist`` caches the files."""
    keras_home = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    return Path(keras_home) / "datasets" / "fashion-mnist"


def candidate_dirs(data_dir: Path | None = None) -> list[tuple[str, Path]]:
    """List the folders searched for the files, in order, each with where it came from."""
    candidates = []
    if data_dir is not None:
        candidates.append(("--data-dir", Path(data_dir)))
    if os.environ.get("FASHION_MNIST_DIR"):
        candidates.append(("FASHION_MNIST_DIR", Path(os.environ["FASHION_MNIST_DIR"])))
    candidates.append(("Debian package dataset-fashion-mnist", DEBIAN_DIR))
    candidates.append(("Keras cache", keras_cache_dir()))
    candidates.append(("download cache", download_cache_dir()))
    return candidates


def load(
    data_dir: Path | None = None,
    *,
    checksums: Mapping[str, Checksum] = PUBLISHED_CHECKSUMS,
    mirror: str | None = None,
    log: Callable[[str], None] = print,
) -> Dataset:
    """Find, verify and parse Fashion-MNIST, downloading it only when no folder has it.

    An explicit ``data_dir`` or ``$FASHION_MNIST_DIR`` must contain all four files: a
    folder the user named is never skipped silently. Raises ``DatasetError`` with a message
    that names the file, the fault and the fix.
    """
    folder, origin = _find_folder(data_dir)
    if folder is None:
        mirror = mirror or os.environ.get("FASHION_MNIST_MIRROR") or DEFAULT_MIRROR
        folder, origin = download(mirror, download_cache_dir(), log=log), "download cache"
    log(f"Reading Fashion-MNIST from {folder} ({origin})")

    is_cache = folder.resolve() == download_cache_dir().resolve()
    md5 = {}
    raw = {}
    for name in FILE_NAMES:
        path = folder / name
        try:
            raw[name], md5[name] = verify_file(path, checksums[name])
        except DatasetError:
            if is_cache:
                path.unlink(missing_ok=True)
            raise
    dataset = Dataset(
        train_images=parse_images(raw[TRAIN_IMAGES], folder / TRAIN_IMAGES),
        train_labels=parse_labels(raw[TRAIN_LABELS], folder / TRAIN_LABELS),
        test_images=parse_images(raw[TEST_IMAGES], folder / TEST_IMAGES),
        test_labels=parse_labels(raw[TEST_LABELS], folder / TEST_LABELS),
        source=folder,
        md5=md5,
    )
    _check_counts(dataset)
    return dataset


def _find_folder(data_dir: Path | None) -> tuple[Path | None, str]:
    for origin, folder in candidate_dirs(data_dir):
        present = [name for name in FILE_NAMES if (folder / name).is_file()]
        if len(present) == len(FILE_NAMES):
            return folder, origin
        if origin in ("--data-dir", "FASHION_MNIST_DIR") and not folder.is_dir():
            raise DatasetError(f"{origin} {folder} does not exist or is not a folder. {HOW_TO_GET}")
        if origin in ("--data-dir", "FASHION_MNIST_DIR"):
            missing = ", ".join(name for name in FILE_NAMES if name not in present)
            raise DatasetError(
                f"{origin} {folder} is missing {missing}. It must contain all four Fashion-MNIST "
                f"files. {HOW_TO_GET}"
            )
    return None, ""


def verify_file(path: Path, checksum: Checksum) -> tuple[bytes, str]:
    """Decompress ``path`` and check it against ``checksum``; return the raw bytes and their MD5."""
    blob = path.read_bytes()
    raw = _gunzip(path, blob)
    raw_md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    gz_md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    if checksum.raw_md5 != raw_md5 and checksum.gz_md5 != gz_md5:
        other = _published_name_of(raw_md5, gz_md5)
        if other is not None and other != path.name:
            raise DatasetError(
                f"{path} is Fashion-MNIST's {other}, not {path.name}: the files were renamed or swapped. "
                f"Give each file its published name. {HOW_TO_GET}"
            )
        raise DatasetError(
            f"{path} failed its checksum: the uncompressed MD5 is {raw_md5}, expected "
            f"{checksum.raw_md5}. It is not the Fashion-MNIST file of that name (MNIST digits "
            f"use the same file names). Replace it with the real file. {HOW_TO_GET}"
        )
    return raw, raw_md5


def _published_name_of(raw_md5: str, gz_md5: str) -> str | None:
    for name, checksum in PUBLISHED_CHECKSUMS.items():
        if raw_md5 == checksum.raw_md5 or gz_md5 == checksum.gz_md5:
            return name
    return None


def _gunzip(path: Path, blob: bytes) -> bytes:
    if blob[:4] in (IMAGES_MAGIC.to_bytes(4, "big"), LABELS_MAGIC.to_bytes(4, "big")):
        raise DatasetError(
            f"{path} is an uncompressed IDX file saved under a .gz name. Rename it without .gz and "
            "compress it with `gzip -n`, or get the original file."
        )
    if not blob.startswith(b"\x1f\x8b"):
        head = blob[:15].decode("ascii", errors="replace")
        hint = " It looks like an HTML page saved in its place." if b"<" in blob[:64] else ""
        raise DatasetError(
            f"{path} is not a gzip file (it starts with {head!r}).{hint} Delete it and get the "
            f"real file. {HOW_TO_GET}"
        )
    try:
        return gzip.decompress(blob)
    except (EOFError, OSError, zlib.error) as error:
        raise DatasetError(
            f"{path} is truncated or corrupt ({error}). Delete it and get the file again. {HOW_TO_GET}"
        ) from error


def parse_images(raw: bytes, path: Path) -> np.ndarray:
    """Parse an IDX3 image file into uint8 ``[n, 28, 28]``."""
    n, rows, cols = _parse_header(raw, path, IMAGES_MAGIC, dimensions=3)
    if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetError(f"{path} contains {rows}x{cols} images, but Fashion-MNIST images are 28x28.")
    return _payload(raw, path, offset=16, count=n * rows * cols).reshape(n, rows, cols)


def parse_labels(raw: bytes, path: Path) -> np.ndarray:
    """Parse an IDX1 label file into uint8 ``[n]`` and check every label is in 0..9."""
    (n,) = _parse_header(raw, path, LABELS_MAGIC, dimensions=1)
    labels = _payload(raw, path, offset=8, count=n)
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{path} contains label {labels.max()}; Fashion-MNIST labels are 0..9.")
    return labels


def _parse_header(raw: bytes, path: Path, magic: int, dimensions: int) -> tuple[int, ...]:
    found = int.from_bytes(raw[:4], "big")
    if len(raw) >= 4 and found != magic:
        raise DatasetError(
            f"{path} has IDX magic number {found:#010x}, expected {magic:#010x}: it is not the "
            f"{'image' if dimensions == 3 else 'label'} file its name says."
        )
    header_size = 4 + 4 * dimensions
    if len(raw) < header_size:
        raise DatasetError(f"{path} is too short ({len(raw)} bytes) to be an IDX file.")
    return tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))


def _payload(raw: bytes, path: Path, offset: int, count: int) -> np.ndarray:
    if len(raw) - offset != count:
        raise DatasetError(
            f"{path} has {len(raw) - offset:,} data bytes but its header promises {count:,}: "
            "the file is truncated or padded. Get the file again."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).copy()


def _check_counts(dataset: Dataset) -> None:
    for split, images, labels in (
        ("training", dataset.train_images, dataset.train_labels),
        ("test", dataset.test_images, dataset.test_labels),
    ):
        if len(images) != len(labels):
            raise DatasetError(
                f"The {split} set in {dataset.source} has {len(images):,} images but "
                f"{len(labels):,} labels. The files come from different data sets; get all four again."
            )
        if len(images) == 0:
            raise DatasetError(f"The {split} set in {dataset.source} is empty.")


def download(mirror: str, cache: Path, *, log: Callable[[str], None] = print) -> Path:
    """Download the four files from ``mirror`` into ``cache`` and return ``cache``.

    Each file is written to a temporary name and renamed when complete, so an interrupted
    download never leaves a partial file under the real name.
    """
    cache.mkdir(parents=True, exist_ok=True)
    searched = "\n".join(f"  - {folder} ({origin})" for origin, folder in candidate_dirs())
    for name in FILE_NAMES:
        target = cache / name
        if target.is_file():
            continue
        url = mirror.rstrip("/") + "/" + name
        log(f"Downloading {url}")
        try:
            _fetch(url, target)
        except OSError as error:  # URLError and TimeoutError are OSErrors too
            raise DatasetError(
                f"Fashion-MNIST was not found and the download of {url} failed ({error}).\n"
                f"Looked in:\n{searched}\n{HOW_TO_GET}"
            ) from error
    return cache


def _fetch(url: str, target: Path) -> None:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as part:
            try:
                shutil.copyfileobj(response, part)
                part.close()
                os.replace(part.name, target)
            except BaseException:
                Path(part.name).unlink(missing_ok=True)
                raise
