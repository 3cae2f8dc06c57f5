"""Upload fixtures for the browser tests, made from real Fashion-MNIST test images.

Each maker turns one 28×28 test image (light garment on black, uint8) into the kind of file a
person would upload, with the difficulty named by the maker: dark on white, off-centre,
transparent background, EXIF-rotated JPEG, a 6000×4000 photo, and the other formats.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
# EXIF tag 0x0112: 6 means "rotate 90° clockwise to display".
EXIF_ORIENTATION = 0x0112
ROTATE_CLOCKWISE = 6


def load_test_set(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return the test images (10000, 28, 28) uint8 and labels (10000,) from the IDX files."""
    with gzip.open(folder / TEST_IMAGES) as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / TEST_LABELS) as file:
        labels = np.frombuffer(file.read(), np.uint8, offset=8)
    return images, labels


def _enlarge(image: np.ndarray, size: int) -> Image.Image:
    return Image.fromarray(image, mode="L").resize((size, size), Image.Resampling.BICUBIC)


def _encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def dark_on_white(image: np.ndarray, format: str = "PNG") -> bytes:
    """The garment dark on a white page with a margin, as a drawing or a product photo."""
    page = Image.new("L", (300, 300), 255)
    page.paste(Image.eval(_enlarge(image, 224), lambda v: 255 - v), (38, 38))
    if format == "WEBP":
        return _encode(page, "WEBP", lossless=True)
    if format == "JPEG":
        return _encode(page, "JPEG", quality=95)
    return _encode(page, format)


def off_centre(image: np.ndarray) -> bytes:
    """The garment light in the top-left corner of a wide, dark grey (not black) frame."""
    frame = Image.new("L", (520, 360), 40)
    garment = np.asarray(_enlarge(image, 150), dtype=np.float64)
    frame.paste(Image.fromarray(np.uint8(40 + garment * (215 / 255))), (12, 20))
    return _encode(frame, "PNG")


def transparent(image: np.ndarray) -> bytes:
    """A navy garment whose shape is only in the alpha channel, on a transparent background."""
    alpha = np.asarray(_enlarge(image, 240))
    rgba = np.zeros(alpha.shape + (4,), np.uint8)
    rgba[..., :3] = (20, 30, 120)
    rgba[..., 3] = alpha
    return _encode(Image.fromarray(rgba, mode="RGBA"), "PNG")


def exif_rotated(image: np.ndarray) -> bytes:
    """A dark-on-white portrait JPEG stored lying on its side, with orientation 6 to stand it up.

    A viewer that ignores the tag sees the garment turned 90°, and one that applies it twice
    sees it upside down, so the two mistakes give different inputs.
    """
    upright = Image.new("L", (240, 320), 255)
    upright.paste(Image.eval(_enlarge(image, 200), lambda v: 255 - v), (20, 70))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise; the tag undoes it
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_CLOCKWISE
    return _encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def large_photo(image: np.ndarray) -> bytes:
    """A 6000×4000 JPEG with the garment dark on white, 3000 px tall and right of centre."""
    photo = Image.new("L", (6000, 4000), 255)
    photo.paste(Image.eval(_enlarge(image, 3000), lambda v: 255 - v), (2600, 500))
    return _encode(photo.convert("RGB"), "JPEG", quality=90)


@dataclass(frozen=True)
class UploadCase:
    """One kind of upload: how to make it from a test image, and the class to take it from."""

    name: str
    make: Callable[[np.ndarray], bytes]
    label: int
    file_name: str
    mime_type: str


# Each case uses a different class, so a page that ignores its input cannot pass them all.
UPLOAD_CASES = [
    UploadCase("dark-on-white", dark_on_white, 1, "trouser.png", "image/png"),
    UploadCase("off-centre", off_centre, 7, "sneaker.png", "image/png"),
    UploadCase("transparent", transparent, 8, "bag.png", "image/png"),
    UploadCase("exif-rotated", exif_rotated, 3, "dress.jpg", "image/jpeg"),
    UploadCase("large", large_photo, 9, "boot.jpg", "image/jpeg"),
    UploadCase("webp", lambda image: dark_on_white(image, "WEBP"), 5, "sandal.webp", "image/webp"),
    UploadCase("gif", lambda image: dark_on_white(image, "GIF"), 0, "top.gif", "image/gif"),
]
