"""Finding, verifying and parsing the Fashion-MNIST IDX files, including the download path."""

from __future__ import annotations

import gzip
import http.server
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from exporter import data
from tests.conftest import checksums_of, write_idx_images, write_idx_labels


@pytest.fixture(autouse=True)
def isolated_search_path(tmp_path, monkeypatch):
    """Point every default location at empty folders, so only what a test provides is found."""
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.delenv("FASHION_MNIST_MIRROR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian-package")


def quiet(line: str) -> None:
    pass


def test_data_load_parses_small_idx_files(idx_folder):
    folder, checksums = idx_folder(train=30, test=10)
    dataset = data.load(folder, checksums=checksums, log=quiet)
    assert dataset.train_images.shape == (30, 28, 28)
    assert dataset.test_images.shape == (10, 28, 28)
    assert dataset.train_images.dtype == np.uint8
    assert dataset.test_labels.tolist() == list(range(10))
    assert dataset.source == folder


def test_data_load_real_files_pass_published_checksums(fashion_mnist_dir):
    dataset = data.load(fashion_mnist_dir, log=quiet)
    assert dataset.train_images.shape == (60_000, 28, 28)
    assert dataset.test_images.shape == (10_000, 28, 28)
    assert np.bincount(dataset.test_labels).tolist() == [1_000] * 10
    assert dataset.md5[data.TEST_IMAGES] == data.PUBLISHED_CHECKSUMS[data.TEST_IMAGES].raw_md5


def test_data_search_order_prefers_env_over_debian(idx_folder, monkeypatch, tmp_path):
    env_folder, checksums = idx_folder(folder_name="from-env")
    debian_folder, _ = idx_folder(folder_name="from-debian")
    monkeypatch.setattr(data, "DEBIAN_DIR", debian_folder)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(env_folder))
    assert data.load(checksums=checksums, log=quiet).source == env_folder


def test_data_search_order_prefers_flag_over_env(idx_folder, monkeypatch):
    flag_folder, checksums = idx_folder(folder_name="from-flag")
    env_folder, _ = idx_folder(folder_name="from-env")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(env_folder))
    assert data.load(flag_folder, checksums=checksums, log=quiet).source == flag_folder


def test_data_search_falls_back_to_keras_cache(idx_folder, tmp_path):
    folder, checksums = idx_folder(folder_name="keras-home/datasets/fashion-mnist")
    assert data.load(checksums=checksums, log=quiet).source == folder


def test_data_dir_missing_file_names_it(idx_folder):
    folder, checksums = idx_folder()
    (folder / data.TEST_LABELS).unlink()
    with pytest.raises(data.DatasetError) as error:
        data.load(folder, checksums=checksums, log=quiet)
    assert data.TEST_LABELS in str(error.value)
    assert "--data-dir" in str(error.value)


def test_data_mnist_digits_fail_checksum(idx_folder):
    folder, _ = idx_folder()
    # Files of the right format whose content differs, as MNIST digits saved under these names.
    with pytest.raises(data.DatasetError) as error:
        data.load(folder, log=quiet)
    message = str(error.value)
    assert "failed its checksum" in message
    assert "MNIST" in message
    assert data.TRAIN_IMAGES in message


def test_data_html_page_saved_as_gz(idx_folder):
    folder, checksums = idx_folder()
    (folder / data.TRAIN_LABELS).write_bytes(b"<!DOCTYPE html><html><body>Not Found</body></html>")
    with pytest.raises(data.DatasetError) as error:
        data.load(folder, checksums=checksums, log=quiet)
    assert "not a gzip file" in str(error.value)
    assert "HTML page" in str(error.value)


def test_data_truncated_gzip(idx_folder):
    folder, checksums = idx_folder()
    blob = (folder / data.TEST_IMAGES).read_bytes()
    (folder / data.TEST_IMAGES).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(data.DatasetError) as error:
        data.load(folder, checksums=checksums, log=quiet)
    assert "truncated or corrupt" in str(error.value)
    assert data.TEST_IMAGES in str(error.value)


@pytest.mark.parametrize(
    ("raw", "fault"),
    [
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(5), "magic number"),
        ((0x803).to_bytes(4, "big") + b"\x00\x00", "too short"),
        ((0x803).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (2, 28, 28)) + bytes(100), "truncated or padded"),
        ((0x803).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (1, 32, 32)) + bytes(1024), "32x32"),
    ],
)
def test_data_parse_images_rejects_bad_headers(raw, fault):
    with pytest.raises(data.DatasetError, match=fault):
        data.parse_images(raw, Path("images.gz"))


def test_data_parse_labels_rejects_out_of_range():
    raw = (0x801).to_bytes(4, "big") + (2).to_bytes(4, "big") + bytes([3, 12])
    with pytest.raises(data.DatasetError, match="label 12"):
        data.parse_labels(raw, Path("labels.gz"))


def test_data_count_mismatch(tmp_path):
    folder = tmp_path / "mismatch"
    folder.mkdir()
    write_idx_images(folder / data.TRAIN_IMAGES, np.zeros((20, 28, 28)))
    write_idx_labels(folder / data.TRAIN_LABELS, np.zeros(19))
    write_idx_images(folder / data.TEST_IMAGES, np.zeros((5, 28, 28)))
    write_idx_labels(folder / data.TEST_LABELS, np.zeros(5))
    with pytest.raises(data.DatasetError, match="20 images but 19 labels"):
        data.load(folder, checksums=checksums_of(folder), log=quiet)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """Serve a folder on 127.0.0.1 as a stand-in mirror; yield ``(url, folder)``."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    server.shutdown()
    server.server_close()


def test_data_download_from_mirror_into_cache(idx_folder, mirror):
    url, served = mirror
    source, checksums = idx_folder(folder_name="source")
    for name in data.FILE_NAMES:
        (served / name).write_bytes((source / name).read_bytes())
    dataset = data.load(checksums=checksums, mirror=url, log=quiet)
    assert dataset.source == data.download_cache_dir()
    assert sorted(p.name for p in data.download_cache_dir().iterdir()) == sorted(data.FILE_NAMES)


def test_data_download_bad_file_removed_from_cache(idx_folder, mirror):
    url, served = mirror
    source, checksums = idx_folder(folder_name="source")
    for name in data.FILE_NAMES:
        (served / name).write_bytes((source / name).read_bytes())
    (served / data.TEST_IMAGES).write_bytes(gzip.compress(b"not the right content"))
    with pytest.raises(data.DatasetError, match="failed its checksum"):
        data.load(checksums=checksums, mirror=url, log=quiet)
    assert not (data.download_cache_dir() / data.TEST_IMAGES).exists()
    assert (data.download_cache_dir() / data.TRAIN_IMAGES).exists()


def test_data_bad_file_outside_cache_is_kept(idx_folder):
    folder, checksums = idx_folder()
    (folder / data.TEST_IMAGES).write_bytes(b"garbage")
    with pytest.raises(data.DatasetError):
        data.load(folder, checksums=checksums, log=quiet)
    assert (folder / data.TEST_IMAGES).read_bytes() == b"garbage"


def test_data_no_files_no_network_lists_locations(mirror):
    url, _ = mirror  # serves an empty folder: every file is 404
    with pytest.raises(data.DatasetError) as error:
        data.load(mirror=url, log=quiet)
    message = str(error.value)
    assert "Looked in:" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "no-debian-package" in message
    assert "keras-home" in message


def test_data_download_unreachable_mirror_fails_fast():
    # Port 9 on loopback has no listener, so the connection is refused at once.
    with pytest.raises(data.DatasetError, match="download of http://127.0.0.1:9/"):
        data.load(mirror="http://127.0.0.1:9/", log=quiet)


def test_data_dir_that_does_not_exist(tmp_path):
    with pytest.raises(data.DatasetError, match="does not exist"):
        data.load(tmp_path / "nowhere", log=quiet)


def test_data_uncompressed_idx_named_gz(idx_folder):
    folder, checksums = idx_folder()
    path = folder / data.TRAIN_LABELS
    path.write_bytes(gzip.decompress(path.read_bytes()))
    with pytest.raises(data.DatasetError, match="uncompressed IDX file"):
        data.load(folder, checksums=checksums, log=quiet)


def test_data_swapped_files_are_named(tmp_path, fashion_mnist_dir):
    folder = tmp_path / "swapped"
    folder.mkdir()
    for name in data.FILE_NAMES:
        (folder / name).write_bytes((fashion_mnist_dir / name).read_bytes())
    (folder / data.TRAIN_LABELS).write_bytes((fashion_mnist_dir / data.TEST_LABELS).read_bytes())
    with pytest.raises(data.DatasetError) as error:
        data.load(folder, log=quiet)
    assert f"Fashion-MNIST's {data.TEST_LABELS}, not {data.TRAIN_LABELS}" in str(error.value)
