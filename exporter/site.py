"""Assemble the static site: the page from ``web/``, its runtime files, sample images and metadata.

Every path inside the site is relative, so it can be hosted from any static server and any
sub-path. The runtime libraries come from the npm packages pinned in ``web/package.json``:
``web/vendor.json`` lists the files the page needs, and only those are copied.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from exporter.contract import LABELS

# web/ entries that are sources for the build, not part of the site.
NOT_PUBLISHED = {"node_modules", "package.json", "package-lock.json", "vendor.json"}
SAMPLES_PER_CLASS = 2
MODELS_DIR = "models"
ONNX_PATH = f"{MODELS_DIR}/model.onnx"
TFJS_GRAPH_DIR = f"{MODELS_DIR}/tfjs-graph"
TFJS_LAYERS_DIR = f"{MODELS_DIR}/tfjs-layers"
SAMPLES_INDEX = "samples/samples.json"


class SiteError(Exception):
    """The page's sources or runtime files are missing. The message names the install command."""


def check_web(web_dir: Path) -> None:
    """Raise ``SiteError`` unless ``web_dir`` has the page and every runtime file it lists."""
    if not (web_dir / "index.html").is_file():
        raise SiteError(f"{web_dir} has no index.html. Pass --web-dir pointing at the project's web/ folder.")
    manifest = web_dir / "vendor.json"
    if not manifest.is_file():
        raise SiteError(f"{manifest} is missing, so the page would have no runtime. Restore it from the project.")
    for item in _vendor_files(web_dir):
        source = web_dir / item["from"]
        if not source.is_file():
            raise SiteError(
                f"the page's runtime file {source} is missing. Install the page's npm packages with "
                f"`npm ci --prefix {web_dir}` and build again."
            )


def _vendor_files(web_dir: Path) -> list[dict]:
    return json.loads((web_dir / "vendor.json").read_text())["files"]


def copy_web(web_dir: Path, site_dir: Path) -> list[str]:
    """Copy the page's sources and its vendored runtime files into ``site_dir``; return the vendored paths."""
    check_web(web_dir)
    for entry in sorted(web_dir.iterdir()):
        if entry.name in NOT_PUBLISHED or entry.name.startswith("."):
            continue
        target = site_dir / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, ignore=shutil.ignore_patterns(".*"))
        else:
            shutil.copy2(entry, target)
    return _copy_vendor_files(web_dir, site_dir)


def _copy_vendor_files(web_dir: Path, site_dir: Path) -> list[str]:
    copied = []
    for item in _vendor_files(web_dir):
        source = web_dir / item["from"]
        target = site_dir / item["to"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        copied.append(item["to"])
    return copied


def write_samples(site_dir: Path, images: np.ndarray, labels: np.ndarray) -> list[dict]:
    """Write the first ``SAMPLES_PER_CLASS`` test images of each class as 28×28 PNGs, with an index."""
    from PIL import Image

    folder = site_dir / Path(SAMPLES_INDEX).parent
    folder.mkdir(parents=True, exist_ok=True)
    chosen = sorted(
        int(index)
        for label in range(len(LABELS))
        for index in np.flatnonzero(labels == label)[:SAMPLES_PER_CLASS]
    )
    samples = []
    for index in chosen:
        relative = f"samples/{index:05d}.png"
        Image.fromarray(images[index], mode="L").save(site_dir / relative, optimize=False)
        label = int(labels[index])
        samples.append({"file": relative, "index": index, "label": label, "label_name": LABELS[label]})
    write_json(site_dir / SAMPLES_INDEX, {"samples": samples})
    return samples


def file_digest(path: Path) -> dict:
    """Return ``{"sha256", "bytes"}`` of one file."""
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size}


def file_digests(folder: Path, relative_to: Path) -> dict[str, dict]:
    """Return ``{relative path: {"sha256", "bytes"}}`` for every file below ``folder``, sorted by path."""
    return {
        path.relative_to(relative_to).as_posix(): file_digest(path)
        for path in sorted(p for p in folder.rglob("*") if p.is_file())
    }


def write_json(path: Path, document: dict) -> None:
    """Write ``document`` as indented JSON with sorted keys, so equal content gives equal bytes."""
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
